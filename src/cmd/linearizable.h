/* linearizable.h - readConcern "linearizable" (replication digest 3.8), the
 * second half: after the read, prove this member was still the primary.
 *
 * The read itself runs like a local read on the primary. Then the primary
 * writes a no-op ({op: "n", o: {msg: "linearizable read"}}) in its current
 * term and waits until that no-op is majority-committed: a deposed primary
 * that has not noticed yet cannot get a majority to take an entry of its old
 * term, so it fails instead of returning data a newer primary may already
 * have overwritten. Loop thread only (private to cmd/). */
#ifndef TALLY_LINEARIZABLE_H
#define TALLY_LINEARIZABLE_H

#include "core/err.h"

#include <stdint.h>

struct server;

/* rc 0: the read is linearizable; rc < 0 with e (borrowed) saying why not. */
typedef void (*linearizable_done_cb)(void *arg, int rc, const struct err *e);

/* Writes the no-op and waits for its majority commit, at most timeout_ms
 * (0: no limit; then MaxTimeMSExpired 50). Fails with NotWritablePrimary
 * (10107) when the member is no longer primary before the no-op is written,
 * InterruptedDueToReplStateChange (11602) when it steps down while waiting,
 * ShutdownInProgress (91) at shutdown. Calls cb exactly once, never before
 * this function returns. srv->repl must be set. */
void linearizable_wait(struct server *srv, int64_t timeout_ms, linearizable_done_cb cb, void *arg);

#endif
