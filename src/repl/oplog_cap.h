/* oplog_cap.h - the oplog's size limit and the periodic trim (oplog_cap.c). */
#ifndef TALLY_REPL_OPLOG_CAP_H
#define TALLY_REPL_OPLOG_CAP_H

#include "core/config.h"

#include <stdint.h>

struct repl_node;

/* The configured oplog size in bytes (the automatic default when unset). */
int64_t oplog_cap_bytes(const struct config *cfg);
/* Called on every node tick (loop thread): at most once a second, queues a
 * trim when the oplog is over its size. */
void oplog_cap_check(struct repl_node *n, int64_t now_ms);

#endif
