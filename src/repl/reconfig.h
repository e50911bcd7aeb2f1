/* reconfig.h - the pure rules of replSetReconfig that need the member's state
 * (the rules that need only the two configs are in config.h:
 * repl_config_check_reconfig).
 *
 * Safe reconfig (replication digest 6.3): a new config is accepted only once
 * the current one is committed -- installed (same version and term) on a
 * majority of its voting members, arbiters included, and the first entry of
 * this primary's term majority-committed. Force reconfig (digest 6.4) raises
 * the version by a large random amount. Pure: no I/O, no clock, no
 * randomness of its own. */
#ifndef TALLY_REPL_RECONFIG_H
#define TALLY_REPL_RECONFIG_H

#include "repl/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The smallest and largest amounts a force reconfig adds to the version. */
#define REPL_FORCE_VERSION_MIN_BUMP 10000
#define REPL_FORCE_VERSION_SPAN 90000

/* True when st's current config is committed (see above). Otherwise false,
 * with a sentence for the operator written to why (cap bytes, may be NULL)
 * naming what is missing. */
bool repl_reconfig_is_committed(const struct repl_state *st, char *why, size_t cap);

/* The version a forced config gets: max(current, requested) plus
 * REPL_FORCE_VERSION_MIN_BUMP + random % REPL_FORCE_VERSION_SPAN, capped at
 * INT32_MAX (the caller supplies the randomness). */
int repl_reconfig_force_version(int current, int requested, uint32_t random);

#endif
