/* test_wallclock.c - the protocol wall clock (core/wallclock.h) and its test
 * offset, the clockOffset fail point: the offset is applied as configured in
 * both directions, bad offsets are refused by configureFailPoint, and the
 * oplog writer's timestamps keep strictly increasing when the clock jumps
 * backwards (also across a restart of the writer), while each entry's wall
 * time follows the skewed clock. */
#include "core/failpoint.h"
#include "core/wallclock.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"

#include "store_testhelp.h"

#include <time.h>

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
/* Slack for a slow machine between two clock reads. */
#define SLACK_MS 5000

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_near(int64_t got, int64_t want)
{
    return got >= want - SLACK_MS && got <= want + SLACK_MS;
}

/* configureFailPoint("clockOffset", mode, data) as the command would; data_json NULL = no data. */
static int set_offset_raw(const char *mode, const char *data_json, struct err *e)
{
    bson_value_t mode_v = {0};
    mode_v.value_type = BSON_TYPE_UTF8;
    mode_v.value.v_utf8.str = (char *)mode;
    mode_v.value.v_utf8.len = (uint32_t)strlen(mode);
    bson_value_t data_v = {0};
    bson_t *data = NULL;
    if (data_json) {
        data = bson_new_from_json((const uint8_t *)data_json, -1, NULL);
        if (data == NULL)
            return err_set(e, ERR_BAD_VALUE, "bad test JSON");
        data_v.value_type = BSON_TYPE_DOCUMENT;
        data_v.value.v_doc.data = (uint8_t *)bson_get_data(data);
        data_v.value.v_doc.data_len = data->len;
    }
    int64_t n_entered;
    int rc = failpoint_configure(FP_CLOCK_OFFSET, &mode_v, data ? &data_v : NULL, &n_entered, e);
    if (data)
        bson_destroy(data);
    return rc;
}

static int set_offset_nan(struct err *e)
{
    bson_t data = BSON_INITIALIZER;
    BSON_APPEND_DOUBLE(&data, "ms", 0.0 / 0.0);
    bson_value_t mode_v = {0}, data_v = {0};
    mode_v.value_type = BSON_TYPE_UTF8;
    mode_v.value.v_utf8.str = (char *)"alwaysOn";
    mode_v.value.v_utf8.len = 8;
    data_v.value_type = BSON_TYPE_DOCUMENT;
    data_v.value.v_doc.data = (uint8_t *)bson_get_data(&data);
    data_v.value.v_doc.data_len = data.len;
    int64_t n_entered;
    int rc = failpoint_configure(FP_CLOCK_OFFSET, &mode_v, &data_v, &n_entered, e);
    bson_destroy(&data);
    return rc;
}

static void set_offset(int64_t ms)
{
    char json[64];
    struct err e;
    err_init(&e);
    snprintf(json, sizeof json, "{\"ms\": {\"$numberLong\": \"%lld\"}}", (long long)ms);
    if (set_offset_raw("alwaysOn", json, &e) != 0)
        fprintf(stderr, "  set offset: %s\n", e.msg);
}

TEST(the_wall_clock_is_the_real_clock_while_the_point_is_off)
{
    failpoint_reset_all();
    CHECK_EQ_INT(wallclock_offset_ms(), 0);
    CHECK(is_near(wallclock_now_ms(), real_now_ms()));
}

TEST(a_positive_offset_moves_the_clock_ahead_and_off_brings_it_back)
{
    failpoint_reset_all();
    set_offset(3 * HOUR_MS);
    CHECK_EQ_INT(wallclock_offset_ms(), 3 * HOUR_MS);
    CHECK(is_near(wallclock_now_ms(), real_now_ms() + 3 * HOUR_MS));
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("off", NULL, &e), 0);
    CHECK_EQ_INT(wallclock_offset_ms(), 0);
    CHECK(is_near(wallclock_now_ms(), real_now_ms()));
}

TEST(a_negative_offset_of_days_moves_the_clock_back)
{
    failpoint_reset_all();
    set_offset(-5 * DAY_MS);
    CHECK(is_near(wallclock_now_ms(), real_now_ms() - 5 * DAY_MS));
    failpoint_reset_all();
}

TEST(a_double_offset_is_accepted_and_counted_as_milliseconds)
{
    failpoint_reset_all();
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", "{\"ms\": -1500.0}", &e), 0);
    CHECK_EQ_INT(wallclock_offset_ms(), -1500);
    failpoint_reset_all();
}

TEST(every_skewed_read_counts_as_a_hit_of_the_point)
{
    failpoint_reset_all();
    int64_t before = failpoint_n_entered(FP_CLOCK_OFFSET);
    wallclock_now_ms();
    CHECK_EQ_INT(failpoint_n_entered(FP_CLOCK_OFFSET), before);
    set_offset(1000);
    wallclock_now_ms();
    wallclock_now_ms();
    CHECK_EQ_INT(failpoint_n_entered(FP_CLOCK_OFFSET), before + 2);
    failpoint_reset_all();
}

TEST(configure_refuses_an_offset_without_ms_or_of_the_wrong_type_or_size)
{
    struct err e;
    failpoint_reset_all();
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", NULL, &e), -ERR_BAD_VALUE);
    CHECK(strstr(e.msg, "{ms:") != NULL);
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", "{\"delayMs\": 5}", &e), -ERR_BAD_VALUE);
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", "{\"ms\": \"60000\"}", &e), -ERR_TYPE_MISMATCH);
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", "{\"ms\": {\"$numberLong\": \"9223372036854775807\"}}", &e),
                 -ERR_BAD_VALUE);
    err_init(&e);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", "{\"ms\": -1e300}", &e), -ERR_BAD_VALUE);
    err_init(&e);
    CHECK_EQ_INT(set_offset_nan(&e), -ERR_BAD_VALUE);
    /* A refused setting leaves the point as it was: off, no skew. */
    CHECK(!failpoint_is_armed(FP_CLOCK_OFFSET));
    CHECK_EQ_INT(wallclock_offset_ms(), 0);
    /* The bounds themselves are accepted. */
    err_init(&e);
    char json[80];
    snprintf(json, sizeof json, "{\"ms\": {\"$numberLong\": \"-%lld\"}}", (long long)WALLCLOCK_MAX_OFFSET_MS);
    CHECK_EQ_INT(set_offset_raw("alwaysOn", json, &e), 0);
    CHECK_EQ_INT(wallclock_offset_ms(), -WALLCLOCK_MAX_OFFSET_MS);
    failpoint_reset_all();
}

TEST(the_point_is_found_by_its_name)
{
    CHECK_EQ_INT(failpoint_find("clockOffset"), FP_CLOCK_OFFSET);
    CHECK_EQ_STR(failpoint_name(FP_CLOCK_OFFSET), "clockOffset");
}

/* ---- the oplog writer under a skewed clock ---- */

static struct oplog_writer *writer_open(struct store *s)
{
    struct oplog_writer *w = NULL;
    struct err e;
    err_init(&e);
    if (oplog_writer_create(s, &w, &e) != 0)
        fprintf(stderr, "  writer create: %s\n", e.msg);
    return w;
}

/* Appends one no-op in term 1 and commits it; returns its optime. */
static struct optime append_noop(struct store *s, struct oplog_writer *w)
{
    struct optime o = OPTIME_NULL;
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t msg = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&msg, "msg", "tick");
    if (oplog_writer_append_noop(w, t, 1, &msg, &o, &e) != 0 || store_txn_commit(t, &e) != 0)
        fprintf(stderr, "  append noop: %s\n", e.msg);
    bson_destroy(&msg);
    return o;
}

static int64_t last_entry_wall(struct store *s)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    bson_t doc;
    bson_iter_t it;
    int64_t wall = -1;
    if (oplog_last(t, NULL, &doc, &e) == 1 && bson_iter_init_find(&it, &doc, "wall") &&
        BSON_ITER_HOLDS_DATE_TIME(&it))
        wall = bson_iter_date_time(&it);
    store_txn_end(t);
    return wall;
}

TEST(oplog_timestamps_keep_increasing_when_the_clock_jumps_back_an_hour)
{
    failpoint_reset_all();
    struct store *s = open_ok();
    struct oplog_writer *w = writer_open(s);
    CHECK(s != NULL && w != NULL);
    if (s == NULL || w == NULL)
        return;
    set_offset(HOUR_MS);
    struct optime ahead = append_noop(s, w);
    CHECK(is_near((int64_t)(ahead.ts >> 32) * 1000, real_now_ms() + HOUR_MS));
    CHECK(is_near(last_entry_wall(s), real_now_ms() + HOUR_MS));

    set_offset(-HOUR_MS);
    struct optime prev = ahead;
    for (int i = 0; i < 50; i++) {
        struct optime o = append_noop(s, w);
        CHECK(o.ts > prev.ts);
        prev = o;
    }
    /* The timestamps stay on the floor the fast clock set ... */
    CHECK_EQ_INT(prev.ts >> 32, ahead.ts >> 32);
    CHECK_EQ_INT((uint32_t)prev.ts, (uint32_t)ahead.ts + 50);
    /* ... while wall follows this member's clock, now two hours behind them. */
    CHECK(is_near(last_entry_wall(s), real_now_ms() - HOUR_MS));

    /* A restarted writer takes its floor from the oplog, not the clock. */
    oplog_writer_destroy(w);
    w = writer_open(s);
    struct optime after = append_noop(s, w);
    CHECK(after.ts > prev.ts);
    CHECK_EQ_INT(after.ts >> 32, ahead.ts >> 32);

    /* Once the clock catches up past the floor, timestamps follow it again. */
    set_offset(2 * HOUR_MS);
    struct optime caught = append_noop(s, w);
    CHECK(caught.ts > after.ts);
    CHECK(is_near((int64_t)(caught.ts >> 32) * 1000, real_now_ms() + 2 * HOUR_MS));
    CHECK_EQ_INT((uint32_t)caught.ts, 1);
    oplog_writer_destroy(w);
    store_close(s);
    failpoint_reset_all();
}

TEST(the_largest_backward_skew_still_gives_positive_dates_and_increasing_timestamps)
{
    failpoint_reset_all();
    struct store *s = open_ok();
    struct oplog_writer *w = writer_open(s);
    if (s == NULL || w == NULL) {
        CHECK(false);
        return;
    }
    struct optime first = append_noop(s, w);
    /* A year back: the timestamp stays on the floor, wall is a year ago. */
    set_offset(-WALLCLOCK_MAX_OFFSET_MS);
    CHECK(wallclock_now_ms() > 0);
    struct optime second = append_noop(s, w);
    CHECK(second.ts > first.ts);
    CHECK(is_near(last_entry_wall(s), real_now_ms() - WALLCLOCK_MAX_OFFSET_MS));
    oplog_writer_destroy(w);
    store_close(s);
    failpoint_reset_all();
}

int main(void)
{
    RUN(the_wall_clock_is_the_real_clock_while_the_point_is_off);
    RUN(a_positive_offset_moves_the_clock_ahead_and_off_brings_it_back);
    RUN(a_negative_offset_of_days_moves_the_clock_back);
    RUN(a_double_offset_is_accepted_and_counted_as_milliseconds);
    RUN(every_skewed_read_counts_as_a_hit_of_the_point);
    RUN(configure_refuses_an_offset_without_ms_or_of_the_wrong_type_or_size);
    RUN(the_point_is_found_by_its_name);
    RUN(oplog_timestamps_keep_increasing_when_the_clock_jumps_back_an_hour);
    RUN(the_largest_backward_skew_still_gives_positive_dates_and_increasing_timestamps);
    return test_report();
}
