/* wallclock.h - the server's wall clock, as replication sees it.
 *
 * Every wall-clock read made for protocol purposes (oplog timestamps and
 * "wall", replSetGetStatus dates, delayed-apply timing, session record
 * cutoffs) goes through wallclock_now_ms, so a test can skew one member's
 * clock at run time: the clockOffset fail point's data {ms: N} is added to
 * every such read while the point is set. Deadlines handed to the kernel
 * (pthread_cond_timedwait) and monotonic timers (elections, heartbeats) do
 * not use it: ordering by (term, timestamp) never depends on wall clocks
 * agreeing across members (docs/testing.md, "Fail points"). */
#ifndef TALLY_WALLCLOCK_H
#define TALLY_WALLCLOCK_H

#include <stdint.h>

/* Bounds of the clockOffset fail point's data.ms: one year either way, far
 * beyond any skew worth testing and far from overflowing a date. */
#define WALLCLOCK_MAX_OFFSET_MS (366LL * 24 * 3600 * 1000)

/* Milliseconds since the epoch, plus the current test offset; never below 1. */
int64_t wallclock_now_ms(void);
/* The current test offset in milliseconds (0 when the fail point is off). */
int64_t wallclock_offset_ms(void);

#endif
