/* wallclock.c - the server's protocol wall clock (see wallclock.h).
 *
 * Sits in core, under the fail point registry: the offset lives in the
 * clockOffset point's data, so configureFailPoint sets and clears it and
 * timesEntered counts the reads it skewed. A point that is off costs one
 * relaxed load, so production reads pay nothing for the hook.
 *
 * Guarantees: the offset applied is the one configured (failpoint.c refuses
 * data.ms that is not a number within WALLCLOCK_MAX_OFFSET_MS); the result is
 * at least 1 ms after the epoch, so a large negative skew near the epoch can
 * never produce a zero or negative date. It is not monotonic: callers that
 * need strictly increasing values (the oplog writer) keep their own floor. */
#include "core/wallclock.h"

#include "core/failpoint.h"

#include <time.h>

int64_t wallclock_offset_ms(void)
{
    bson_t data;

    if (!failpoint_is_armed(FP_CLOCK_OFFSET) || !failpoint_enter(FP_CLOCK_OFFSET, &data))
        return 0;
    int64_t ms = failpoint_data_int64(&data, "ms", 0);
    bson_destroy(&data);
    /* Re-checked here too: the reader must stay safe whatever the registry holds. */
    if (ms > WALLCLOCK_MAX_OFFSET_MS || ms < -WALLCLOCK_MAX_OFFSET_MS)
        return 0;
    return ms;
}

int64_t wallclock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + wallclock_offset_ms();
    return now > 0 ? now : 1;
}
