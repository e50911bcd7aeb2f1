/* newly_added.h - the pure rules of MongoDB's newlyAdded member flag
 * (replication digest 5.2, 6.3).
 *
 * A voting data-bearing member added by a safe replSetReconfig is stored with
 * newlyAdded: true, which makes it count as votes 0, priority 0 (config.h):
 * it raises no majority and stands for nothing while it initial-syncs. Once
 * the primary hears it in SECONDARY, RECOVERING or ROLLBACK it runs a reconfig
 * of its own (version + 1) that clears the flag. Pure: no I/O, no clock. */
#ifndef TALLY_REPL_NEWLY_ADDED_H
#define TALLY_REPL_NEWLY_ADDED_H

#include "repl/core.h"

/* Keeps the flag of every member of old_cfg that new_cfg still holds (same
 * _id) as a voting data-bearing member: replSetGetConfig hides the flag, so a
 * config edited by a user never carries it. */
void repl_newly_added_carry(const struct repl_config *old_cfg, struct repl_config *new_cfg);
/* Flags each voting data-bearing member of new_cfg whose _id old_cfg lacks.
 * Returns how many it flagged. */
int repl_newly_added_mark(const struct repl_config *old_cfg, struct repl_config *new_cfg);
/* The index of a flagged member that st (a primary) may now unflag: heard
 * from and in SECONDARY, RECOVERING or ROLLBACK; -1 when there is none. */
int repl_newly_added_ready(const struct repl_state *st);

#endif
