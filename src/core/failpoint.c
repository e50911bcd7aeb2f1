/* failpoint.c - the fail point registry (see failpoint.h).
 *
 * Sits in core: every layer may hit a point, none depends on another to do
 * so. One mutex guards every point's mode, counters and data; the armed
 * flags mirror "mode != off" so a point that is off costs a relaxed load at
 * its site. The flag may lag a concurrent configure by an instant, which is
 * harmless: failpoint_enter re-checks the mode under the mutex.
 *
 * Guarantees: a {times: N} point fires exactly N times in total however many
 * threads race on it; a {skip: N} point lets exactly N hits pass first; the
 * data a firing hit sees is the data configured with the mode that fired. */
#include "core/failpoint.h"

#include "core/log.h"
#include "core/wallclock.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

struct failpoint {
    const char *name;
    enum failpoint_mode mode;
    int64_t n;       /* times left (TIMES) or hits still to skip (SKIP) */
    double p;        /* PROBABILITY */
    bson_t data;     /* always initialised; empty when none given */
    int64_t n_entered;
};

atomic_bool failpoint_armed[FP_COUNT];

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static bool is_registry_ready;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static struct failpoint points[FP_COUNT] = {
    [FP_DUMMY] = {.name = "dummy"},
    [FP_WRITER_BEFORE_COMMIT] = {.name = "writerBeforeCommit"},
    [FP_WRITER_AFTER_COMMIT_BEFORE_ACK] = {.name = "writerAfterCommitBeforeAck"},
    [FP_WRITER_SKIP_FSYNC] = {.name = "writerSkipFsync"},
    [FP_HANG_BEFORE_PERSIST_VOTE] = {.name = "hangBeforePersistVote"},
    [FP_STOP_REPL_PRODUCER] = {.name = "stopReplProducer"},
    [FP_RS_SYNC_APPLY_STOP] = {.name = "rsSyncApplyStop"},
    [FP_DROP_HEARTBEATS] = {.name = "dropHeartbeats"},
    [FP_FAIL_COMMAND] = {.name = "failCommand"},
    [FP_CLOCK_OFFSET] = {.name = "clockOffset"},
};

/* Caller holds registry_mu. The data documents are created on first use so
 * the registry needs no init call from main. */
static void ensure_ready(void)
{
    if (is_registry_ready)
        return;
    for (int i = 0; i < FP_COUNT; i++)
        bson_init(&points[i].data);
    is_registry_ready = true;
}

/* xorshift64*: enough for activationProbability; caller holds registry_mu. */
static double next_random(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) / (double)(1ull << 53);
}

static void set_off_locked(struct failpoint *fp, enum failpoint_id id)
{
    fp->mode = FAILPOINT_OFF;
    atomic_store_explicit(&failpoint_armed[id], false, memory_order_relaxed);
}

/* Caller holds registry_mu: does this hit fire? Consumes times/skip. */
static bool decide_locked(struct failpoint *fp, enum failpoint_id id)
{
    switch (fp->mode) {
    case FAILPOINT_OFF:
        return false;
    case FAILPOINT_ALWAYS_ON:
        return true;
    case FAILPOINT_TIMES:
        if (fp->n <= 0) {
            set_off_locked(fp, id);
            return false;
        }
        if (--fp->n == 0)
            set_off_locked(fp, id);
        return true;
    case FAILPOINT_SKIP:
        if (fp->n > 0) {
            fp->n--;
            return false;
        }
        return true;
    case FAILPOINT_PROBABILITY:
        return next_random() < fp->p;
    }
    return false;
}

bool failpoint_enter_if(enum failpoint_id id, failpoint_pred_cb pred, void *arg, bson_t *data_out)
{
    bool is_fired;

    if (id < 0 || id >= FP_COUNT || !failpoint_is_armed(id))
        return false;
    pthread_mutex_lock(&registry_mu);
    ensure_ready();
    struct failpoint *fp = &points[id];
    is_fired = fp->mode != FAILPOINT_OFF && (pred == NULL || pred(&fp->data, arg)) && decide_locked(fp, id);
    if (is_fired) {
        fp->n_entered++;
        if (data_out)
            bson_copy_to(&fp->data, data_out);
    }
    pthread_mutex_unlock(&registry_mu);
    return is_fired;
}

bool failpoint_enter(enum failpoint_id id, bson_t *data_out)
{
    return failpoint_enter_if(id, NULL, NULL, data_out);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

bool failpoint_pause(enum failpoint_id id)
{
    bson_t data;

    if (!failpoint_enter(id, &data))
        return false;
    int64_t delay_ms = failpoint_data_int64(&data, "delayMs", -1);
    bson_destroy(&data);
    if (delay_ms >= 0) {
        sleep_ms(delay_ms);
        return true;
    }
    /* pauseWhileSet: a {times: 1} point that fired is already off, so this
     * holds only while an alwaysOn (or skip) setting stays. */
    while (failpoint_is_armed(id))
        sleep_ms(10);
    return true;
}

int failpoint_find(const char *name)
{
    for (int i = 0; i < FP_COUNT; i++)
        if (strcmp(points[i].name, name) == 0)
            return i;
    return -1;
}

const char *failpoint_name(enum failpoint_id id)
{
    return id >= 0 && id < FP_COUNT ? points[id].name : "?";
}

/* clockOffset's data must say by how much: {ms: N}, |N| within a year. A
 * bad offset is refused here rather than ignored at every clock read. */
static int check_clock_offset_data(const bson_t *data, enum failpoint_mode mode, struct err *e)
{
    bson_iter_t it;

    if (mode == FAILPOINT_OFF)
        return 0;
    if (!bson_iter_init_find(&it, data, "ms"))
        return err_set(e, ERR_BAD_VALUE, "clockOffset needs data: {ms: <offset in milliseconds>}");
    if (!BSON_ITER_HOLDS_NUMBER(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "clockOffset: data.ms must be a number");
    if (BSON_ITER_HOLDS_DOUBLE(&it)) {
        double d = bson_iter_double(&it);
        if (!(d >= -(double)WALLCLOCK_MAX_OFFSET_MS && d <= (double)WALLCLOCK_MAX_OFFSET_MS))
            return err_set(e, ERR_BAD_VALUE, "clockOffset: data.ms must be within %lld and %lld",
                           -WALLCLOCK_MAX_OFFSET_MS, WALLCLOCK_MAX_OFFSET_MS);
        return 0;
    }
    int64_t ms = bson_iter_as_int64(&it);
    if (ms < -WALLCLOCK_MAX_OFFSET_MS || ms > WALLCLOCK_MAX_OFFSET_MS)
        return err_set(e, ERR_BAD_VALUE, "clockOffset: data.ms must be within %lld and %lld",
                       -WALLCLOCK_MAX_OFFSET_MS, WALLCLOCK_MAX_OFFSET_MS);
    return 0;
}

/* {times: N} | {skip: N} | {activationProbability: p}: exactly one key. */
static int parse_mode_doc(const bson_value_t *v, enum failpoint_mode *mode, int64_t *n, double *p, struct err *e)
{
    bson_t doc;
    bson_iter_t it;
    int n_keys = 0;

    if (!bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_init(&it, &doc))
        return err_set(e, ERR_BAD_VALUE, "invalid fail point mode document");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        n_keys++;
        if (!BSON_ITER_HOLDS_NUMBER(&it))
            return err_set(e, ERR_BAD_VALUE, "'%s' option to 'mode' must be a number", k);
        if (strcmp(k, "times") == 0 || strcmp(k, "skip") == 0) {
            *n = bson_iter_as_int64(&it);
            if (*n < 0)
                return err_set(e, ERR_BAD_VALUE, "'%s' option to 'mode' must be positive", k);
            *mode = k[0] == 't' ? FAILPOINT_TIMES : FAILPOINT_SKIP;
        } else if (strcmp(k, "activationProbability") == 0) {
            *p = BSON_ITER_HOLDS_DOUBLE(&it) ? bson_iter_double(&it) : (double)bson_iter_as_int64(&it);
            if (!(*p >= 0.0 && *p <= 1.0))
                return err_set(e, ERR_BAD_VALUE, "activationProbability must be between 0.0 and 1.0");
            *mode = FAILPOINT_PROBABILITY;
        } else {
            return err_set(e, ERR_BAD_VALUE, "'mode' must be one of 'off', 'alwaysOn', 'times', 'skip' and "
                           "'activationProbability'; found '%s'", k);
        }
    }
    if (n_keys != 1)
        return err_set(e, ERR_BAD_VALUE, "'mode' document must have exactly one of 'times', 'skip' and "
                       "'activationProbability'");
    return 0;
}

int failpoint_configure(enum failpoint_id id, const bson_value_t *mode_v, const bson_value_t *data_v,
                        int64_t *n_entered_out, struct err *e)
{
    enum failpoint_mode mode = FAILPOINT_OFF;
    int64_t n = 0;
    double p = 0;
    bson_t data;
    int rc;

    if (id < 0 || id >= FP_COUNT)
        return err_set(e, ERR_FAIL_POINT_SET_FAILED, "fail point not found");
    if (mode_v == NULL)
        return err_set(e, ERR_BAD_VALUE, "Missing mode");
    if (mode_v->value_type == BSON_TYPE_UTF8) {
        const char *s = mode_v->value.v_utf8.str;
        if (strcmp(s, "off") == 0)
            mode = FAILPOINT_OFF;
        else if (strcmp(s, "alwaysOn") == 0)
            mode = FAILPOINT_ALWAYS_ON;
        else
            return err_set(e, ERR_BAD_VALUE, "unknown mode: %s", s);
    } else if (mode_v->value_type == BSON_TYPE_DOCUMENT) {
        if ((rc = parse_mode_doc(mode_v, &mode, &n, &p, e)) < 0)
            return rc;
    } else {
        return err_set(e, ERR_BAD_VALUE, "'mode' must be a string or a document");
    }
    if (data_v && data_v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, ERR_TYPE_MISMATCH, "the 'data' option of configureFailPoint must be a document");
    if (data_v) {
        if (!bson_init_static(&data, data_v->value.v_doc.data, data_v->value.v_doc.data_len))
            return err_set(e, ERR_INVALID_BSON, "the 'data' option of configureFailPoint is not valid BSON");
    } else {
        bson_init(&data);
    }
    /* {times: 0} means off, as in mongod. */
    if (mode == FAILPOINT_TIMES && n == 0)
        mode = FAILPOINT_OFF;
    if (id == FP_CLOCK_OFFSET && (rc = check_clock_offset_data(&data, mode, e)) < 0) {
        bson_destroy(&data);
        return rc;
    }

    pthread_mutex_lock(&registry_mu);
    ensure_ready();
    struct failpoint *fp = &points[id];
    *n_entered_out = fp->n_entered;
    bson_destroy(&fp->data);
    bson_copy_to(&data, &fp->data);
    fp->mode = mode;
    fp->n = n;
    fp->p = p;
    atomic_store_explicit(&failpoint_armed[id], mode != FAILPOINT_OFF, memory_order_relaxed);
    pthread_mutex_unlock(&registry_mu);
    char *json = bson_as_relaxed_extended_json(&data, NULL);
    static const char *const mode_names[] = {"off", "alwaysOn", "times", "skip", "activationProbability"};
    log_warn(LOGC_CONTROL, "Set failpoint %s to %s (n %lld, p %g) data %s", fp->name, mode_names[mode], (long long)n,
             p, json ? json : "{}");
    bson_free(json);
    bson_destroy(&data);
    return 0;
}

int64_t failpoint_n_entered(enum failpoint_id id)
{
    int64_t n;

    if (id < 0 || id >= FP_COUNT)
        return 0;
    pthread_mutex_lock(&registry_mu);
    n = points[id].n_entered;
    pthread_mutex_unlock(&registry_mu);
    return n;
}

void failpoint_append_state(enum failpoint_id id, bson_t *out)
{
    if (id < 0 || id >= FP_COUNT)
        return;
    pthread_mutex_lock(&registry_mu);
    ensure_ready();
    struct failpoint *fp = &points[id];
    BSON_APPEND_INT32(out, "mode", (int32_t)fp->mode);
    BSON_APPEND_DOCUMENT(out, "data", &fp->data);
    BSON_APPEND_INT64(out, "timesEntered", fp->n_entered);
    pthread_mutex_unlock(&registry_mu);
}

void failpoint_reset_all(void)
{
    pthread_mutex_lock(&registry_mu);
    ensure_ready();
    for (int i = 0; i < FP_COUNT; i++) {
        set_off_locked(&points[i], (enum failpoint_id)i);
        bson_reinit(&points[i].data);
    }
    pthread_mutex_unlock(&registry_mu);
}

int64_t failpoint_data_int64(const bson_t *data, const char *key, int64_t dflt)
{
    bson_iter_t it;

    if (data && bson_iter_init_find(&it, data, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return dflt;
}

const char *failpoint_data_utf8(const bson_t *data, const char *key)
{
    bson_iter_t it;

    if (data && bson_iter_init_find(&it, data, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}
