/* test_failpoint.c - the fail point registry: modes, counts, data, predicates,
 * configure errors, and exact {times: N} under racing threads. */
#include "core/failpoint.h"

#include "testhelp.h"

#include <pthread.h>

static int configure_json(enum failpoint_id id, const char *mode_json, const char *data_json, int64_t *count,
                          struct err *e)
{
    bson_t *m = bson_new_from_json((const uint8_t *)mode_json, -1, NULL);
    bson_t *d = data_json ? bson_new_from_json((const uint8_t *)data_json, -1, NULL) : NULL;
    bson_iter_t mi, di;
    bson_iter_init_find(&mi, m, "mode");
    if (d)
        bson_iter_init_find(&di, d, "data");
    int rc = failpoint_configure(id, bson_iter_value(&mi), d ? bson_iter_value(&di) : NULL, count, e);
    bson_destroy(m);
    if (d)
        bson_destroy(d);
    return rc;
}

static int set_mode(enum failpoint_id id, const char *mode_json)
{
    int64_t n = 0;
    struct err e;
    err_init(&e);
    int rc = configure_json(id, mode_json, NULL, &n, &e);
    err_clear(&e);
    return rc;
}

static int n_fired(enum failpoint_id id, int hits)
{
    int n = 0;
    for (int i = 0; i < hits; i++)
        n += failpoint_enter(id, NULL);
    return n;
}

TEST(a_point_that_is_off_never_fires_and_is_not_armed)
{
    failpoint_reset_all();
    CHECK(!failpoint_is_armed(FP_DUMMY));
    CHECK_EQ_INT(n_fired(FP_DUMMY, 10), 0);
}

TEST(always_on_fires_every_time_until_turned_off)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": \"alwaysOn\"}"), 0);
    CHECK(failpoint_is_armed(FP_DUMMY));
    CHECK_EQ_INT(n_fired(FP_DUMMY, 5), 5);
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": \"off\"}"), 0);
    CHECK(!failpoint_is_armed(FP_DUMMY));
    CHECK_EQ_INT(n_fired(FP_DUMMY, 5), 0);
}

TEST(times_counts_down_then_the_point_disarms_itself)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"times\": 3}}"), 0);
    CHECK_EQ_INT(n_fired(FP_DUMMY, 10), 3);
    CHECK(!failpoint_is_armed(FP_DUMMY));
}

TEST(times_zero_means_off)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"times\": 0}}"), 0);
    CHECK(!failpoint_is_armed(FP_DUMMY));
    CHECK_EQ_INT(n_fired(FP_DUMMY, 3), 0);
}

TEST(skip_lets_the_first_hits_pass_then_fires_always)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"skip\": 2}}"), 0);
    CHECK(!failpoint_enter(FP_DUMMY, NULL));
    CHECK(!failpoint_enter(FP_DUMMY, NULL));
    CHECK_EQ_INT(n_fired(FP_DUMMY, 4), 4);
}

TEST(activation_probability_zero_never_fires_and_one_always_fires)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"activationProbability\": 0.0}}"), 0);
    CHECK_EQ_INT(n_fired(FP_DUMMY, 100), 0);
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"activationProbability\": 1.0}}"), 0);
    CHECK_EQ_INT(n_fired(FP_DUMMY, 100), 100);
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"activationProbability\": 0.5}}"), 0);
    int n = n_fired(FP_DUMMY, 2000);
    CHECK(n > 700 && n < 1300);
}

TEST(configure_replies_the_count_of_earlier_firings_and_keeps_counting)
{
    int64_t count = -1;
    struct err e;
    err_init(&e);
    failpoint_reset_all();
    int64_t base = failpoint_n_entered(FP_DUMMY);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": \"alwaysOn\"}", NULL, &count, &e), 0);
    CHECK_EQ_INT(count, base);
    n_fired(FP_DUMMY, 4);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": \"off\"}", NULL, &count, &e), 0);
    CHECK_EQ_INT(count, base + 4);
    CHECK_EQ_INT(failpoint_n_entered(FP_DUMMY), base + 4);
    err_clear(&e);
}

TEST(a_firing_hit_gets_a_copy_of_the_data)
{
    int64_t count;
    struct err e;
    bson_t data;
    err_init(&e);
    failpoint_reset_all();
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": \"alwaysOn\"}", "{\"data\": {\"delayMs\": 7, \"host\": \"h:1\"}}",
                                &count, &e), 0);
    CHECK(failpoint_enter(FP_DUMMY, &data));
    CHECK_EQ_INT(failpoint_data_int64(&data, "delayMs", -1), 7);
    CHECK_EQ_STR(failpoint_data_utf8(&data, "host"), "h:1");
    CHECK_EQ_INT(failpoint_data_int64(&data, "missing", -1), -1);
    CHECK(failpoint_data_utf8(&data, "delayMs") == NULL);
    bson_destroy(&data);
    err_clear(&e);
}

static bool pred_host_is_a(const bson_t *data, void *arg)
{
    (void)data;
    return strcmp(arg, "a") == 0;
}

TEST(a_predicate_that_does_not_match_consumes_no_times)
{
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"times\": 1}}"), 0);
    CHECK(!failpoint_enter_if(FP_DUMMY, pred_host_is_a, "b", NULL));
    CHECK(!failpoint_enter_if(FP_DUMMY, pred_host_is_a, "b", NULL));
    CHECK(failpoint_enter_if(FP_DUMMY, pred_host_is_a, "a", NULL));
    CHECK(!failpoint_enter_if(FP_DUMMY, pred_host_is_a, "a", NULL));
}

TEST(bad_modes_and_data_are_refused_with_bad_value_or_type_mismatch)
{
    int64_t count;
    struct err e;
    err_init(&e);
    failpoint_reset_all();
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": \"sometimes\"}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": 5}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"times\": -1}}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"times\": \"x\"}}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"often\": 1}}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {}}", NULL, &count, &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"times\": 1, \"skip\": 1}}", NULL, &count, &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"activationProbability\": 1.5}}", NULL, &count, &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": \"alwaysOn\"}", "{\"data\": 3}", &count, &e),
                 -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(failpoint_configure(FP_DUMMY, NULL, NULL, &count, &e), -ERR_BAD_VALUE);
    /* None of the refused settings armed the point. */
    CHECK(!failpoint_is_armed(FP_DUMMY));
    err_clear(&e);
}

TEST(names_map_to_ids_and_back)
{
    CHECK_EQ_INT(failpoint_find("failCommand"), FP_FAIL_COMMAND);
    CHECK_EQ_INT(failpoint_find("writerSkipFsync"), FP_WRITER_SKIP_FSYNC);
    CHECK_EQ_INT(failpoint_find("FailCommand"), -1);
    CHECK_EQ_INT(failpoint_find("nope"), -1);
    for (int i = 0; i < FP_COUNT; i++)
        CHECK_EQ_INT(failpoint_find(failpoint_name((enum failpoint_id)i)), i);
}

TEST(pause_with_delay_ms_sleeps_that_long)
{
    int64_t count;
    struct err e;
    struct timespec a, b;
    err_init(&e);
    failpoint_reset_all();
    CHECK_EQ_INT(configure_json(FP_DUMMY, "{\"mode\": {\"times\": 1}}", "{\"data\": {\"delayMs\": 50}}", &count, &e),
                 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(failpoint_pause(FP_DUMMY));
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 50);
    CHECK(!failpoint_pause(FP_DUMMY));
    err_clear(&e);
}

static void *hammer(void *arg)
{
    int *fired = arg;
    for (int i = 0; i < 20000; i++)
        *fired += failpoint_enter(FP_DUMMY, NULL);
    return NULL;
}

TEST(times_fires_exactly_n_times_across_racing_threads)
{
    pthread_t th[4];
    int fired[4] = {0, 0, 0, 0};
    failpoint_reset_all();
    CHECK_EQ_INT(set_mode(FP_DUMMY, "{\"mode\": {\"times\": 1000}}"), 0);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, &fired[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(fired[0] + fired[1] + fired[2] + fired[3], 1000);
}

int main(void)
{
    RUN(a_point_that_is_off_never_fires_and_is_not_armed);
    RUN(always_on_fires_every_time_until_turned_off);
    RUN(times_counts_down_then_the_point_disarms_itself);
    RUN(times_zero_means_off);
    RUN(skip_lets_the_first_hits_pass_then_fires_always);
    RUN(activation_probability_zero_never_fires_and_one_always_fires);
    RUN(configure_replies_the_count_of_earlier_firings_and_keeps_counting);
    RUN(a_firing_hit_gets_a_copy_of_the_data);
    RUN(a_predicate_that_does_not_match_consumes_no_times);
    RUN(bad_modes_and_data_are_refused_with_bad_value_or_type_mismatch);
    RUN(names_map_to_ids_and_back);
    RUN(pause_with_delay_ms_sleeps_that_long);
    RUN(times_fires_exactly_n_times_across_racing_threads);
    failpoint_reset_all();
    return test_report();
}
