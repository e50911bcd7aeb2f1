/* cursor.c - the cursor registry and the code that fills result batches.
 *
 * Every cursor-producing command (find, aggregate, listCollections,
 * listIndexes) and getMore goes through cursor_fill_batch, so batch size,
 * limit, the 16 MiB reply cap and exhaustion detection behave the same
 * everywhere. The registry is a chained hash table under one mutex; ids are
 * random positive int64 values, never 0 and never reused while alive. */
#include "cmd/cursor.h"

#include "core/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define N_BUCKETS 1024

struct cursor_registry {
    pthread_mutex_t mu;
    struct cursor *buckets[N_BUCKETS];
    int64_t n;
};

static size_t bucket_of(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >> 54) & (N_BUCKETS - 1);
}

struct cursor_registry *cursor_registry_create(void)
{
    struct cursor_registry *reg = xcalloc(1, sizeof *reg);

    pthread_mutex_init(&reg->mu, NULL);
    return reg;
}

void cursor_registry_destroy(struct cursor_registry *reg)
{
    if (!reg)
        return;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        struct cursor *c = reg->buckets[b];
        while (c) {
            struct cursor *next = c->next;
            cursor_destroy(c);
            c = next;
        }
    }
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

struct cursor *cursor_create(const char *db, const char *coll, const char *ns)
{
    struct cursor *c = xcalloc(1, sizeof *c);

    snprintf(c->db, sizeof c->db, "%s", db);
    snprintf(c->coll, sizeof c->coll, "%s", coll);
    snprintf(c->ns, sizeof c->ns, "%s", ns);
    keybuf_init(&c->pos);
    c->limit_left = CURSOR_NO_LIMIT;
    return c;
}

void cursor_destroy(struct cursor *c)
{
    if (!c)
        return;
    if (c->matcher)
        matcher_destroy(c->matcher);
    if (c->proj)
        projection_destroy(c->proj);
    exec_seen_destroy(c->seen);
    keybuf_destroy(&c->pos);
    for (size_t i = c->i_doc; i < c->n_docs; i++)
        bson_destroy(c->docs[i]);
    free(c->docs);
    free(c);
}

void cursor_buffer_push(struct cursor *c, const bson_t *doc)
{
    if (c->i_doc > 0 && c->i_doc == c->n_docs) {
        c->i_doc = 0;
        c->n_docs = 0;
    }
    if (c->n_docs == c->cap_docs) {
        c->cap_docs = c->cap_docs ? c->cap_docs * 2 : 16;
        c->docs = xrealloc(c->docs, c->cap_docs * sizeof *c->docs);
    }
    c->docs[c->n_docs++] = bson_copy(doc);
}

bool cursor_is_drained(const struct cursor *c)
{
    return c->i_doc == c->n_docs && !c->has_scan;
}

static int64_t random_id(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        static uint64_t fallback = 0x5DEECE66Dull;
        fallback = fallback * 6364136223846793005ull + 1442695040888963407ull;
        v = fallback ^ (uint64_t)time(NULL);
    }
    return (int64_t)(v & 0x7FFFFFFFFFFFFFFFull);
}

static struct cursor **find_slot(struct cursor_registry *reg, int64_t id)
{
    struct cursor **pp = &reg->buckets[bucket_of(id)];

    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

static void reap_locked(struct cursor_registry *reg, int64_t now_ms)
{
    for (size_t b = 0; b < N_BUCKETS; b++) {
        struct cursor **pp = &reg->buckets[b];
        while (*pp) {
            struct cursor *c = *pp;
            if (!c->is_in_use && !c->is_no_timeout && now_ms - c->last_used_ms > CURSOR_IDLE_TIMEOUT_MS) {
                *pp = c->next;
                reg->n--;
                cursor_destroy(c);
            } else {
                pp = &c->next;
            }
        }
    }
}

int64_t cursor_registry_add(struct cursor_registry *reg, struct cursor *c, int64_t now_ms)
{
    int64_t id;

    pthread_mutex_lock(&reg->mu);
    do
        id = random_id();
    while (id == 0 || *find_slot(reg, id) != NULL);
    c->id = id;
    c->last_used_ms = now_ms;
    c->is_in_use = false;
    c->next = reg->buckets[bucket_of(id)];
    reg->buckets[bucket_of(id)] = c;
    reg->n++;
    pthread_mutex_unlock(&reg->mu);
    return id;
}

int cursor_registry_checkout(struct cursor_registry *reg, int64_t id, int64_t now_ms, struct cursor **out,
                             struct err *e)
{
    struct cursor *c;
    int rc = 0;

    pthread_mutex_lock(&reg->mu);
    reap_locked(reg, now_ms);
    c = *find_slot(reg, id);
    if (!c || c->is_killed)
        rc = err_set(e, ERR_CURSOR_NOT_FOUND, "cursor id %lld not found", (long long)id);
    else if (c->is_in_use)
        rc = err_set(e, ERR_OPERATION_FAILED, "Cursor already in use (namespace: '%s', id: %lld).", c->ns,
                     (long long)id);
    else {
        c->is_in_use = true;
        c->last_used_ms = now_ms;
        *out = c;
    }
    pthread_mutex_unlock(&reg->mu);
    return rc;
}

static void unlink_locked(struct cursor_registry *reg, struct cursor *c)
{
    struct cursor **pp = find_slot(reg, c->id);

    if (*pp == c) {
        *pp = c->next;
        reg->n--;
    }
}

void cursor_registry_checkin(struct cursor_registry *reg, struct cursor *c, int64_t now_ms)
{
    bool is_dead;

    pthread_mutex_lock(&reg->mu);
    c->is_in_use = false;
    c->last_used_ms = now_ms;
    is_dead = c->is_killed;
    if (is_dead)
        unlink_locked(reg, c);
    pthread_mutex_unlock(&reg->mu);
    if (is_dead)
        cursor_destroy(c);
}

void cursor_registry_release(struct cursor_registry *reg, struct cursor *c)
{
    pthread_mutex_lock(&reg->mu);
    unlink_locked(reg, c);
    pthread_mutex_unlock(&reg->mu);
    cursor_destroy(c);
}

int cursor_registry_kill(struct cursor_registry *reg, int64_t id)
{
    struct cursor *c, *dead = NULL;
    int found = 0;

    pthread_mutex_lock(&reg->mu);
    c = *find_slot(reg, id);
    if (c && !c->is_killed) {
        found = 1;
        if (c->is_in_use) {
            c->is_killed = true;
        } else {
            unlink_locked(reg, c);
            dead = c;
        }
    }
    pthread_mutex_unlock(&reg->mu);
    cursor_destroy(dead);
    return found;
}

void cursor_registry_reap(struct cursor_registry *reg, int64_t now_ms)
{
    pthread_mutex_lock(&reg->mu);
    reap_locked(reg, now_ms);
    pthread_mutex_unlock(&reg->mu);
}

int64_t cursor_registry_count(struct cursor_registry *reg)
{
    int64_t n;

    pthread_mutex_lock(&reg->mu);
    n = reg->n;
    pthread_mutex_unlock(&reg->mu);
    return n;
}

/* --- batches --- */

struct batch {
    bson_t *arr;
    int64_t n;
    int64_t max_docs;
    size_t n_bytes;
};

static bool batch_is_full(const struct batch *b, const struct cursor *c)
{
    return b->n >= b->max_docs || c->limit_left <= 0;
}

/* Appends doc unless it would push a non-empty batch past the byte cap. */
static bool batch_try_add(struct batch *b, struct cursor *c, const bson_t *doc)
{
    char key[24];

    if (b->n > 0 && b->n_bytes + doc->len > CURSOR_BATCH_MAX_BYTES)
        return false;
    snprintf(key, sizeof key, "%lld", (long long)b->n);
    bson_append_document(b->arr, key, -1, doc);
    b->n++;
    b->n_bytes += doc->len + strlen(key) + 2;
    if (c->limit_left != CURSOR_NO_LIMIT)
        c->limit_left--;
    return true;
}

static bool drain_buffer(struct batch *b, struct cursor *c)
{
    while (c->i_doc < c->n_docs && !batch_is_full(b, c)) {
        if (!batch_try_add(b, c, c->docs[c->i_doc]))
            return false;
        bson_destroy(c->docs[c->i_doc]);
        c->i_doc++;
    }
    return true;
}

/* Projects doc (or copies it when there is no projection) into out (initialised here). */
static int shape_doc(struct cursor *c, const bson_t *doc, int positional_index, bson_t *out, struct err *e)
{
    int rc;

    bson_init(out);
    if (!c->proj) {
        bson_concat(out, doc);
        return 0;
    }
    rc = projection_apply(c->proj, doc, positional_index, out, e);
    if (rc < 0)
        bson_destroy(out);
    return rc;
}

/* Continues the scan into the batch; the first document that does not fit
 * (or one extra document, to learn whether the scan is over) is buffered. */
static int fill_from_scan(struct batch *b, struct cursor *c, struct store_txn *t, struct err *e)
{
    struct coll_info *ci = NULL;
    struct exec_scan *s = NULL;
    bson_t doc, shaped;
    int pi, rc;

    rc = store_coll_find(t, c->db, c->coll, &ci, e);
    if (rc < 0)
        return rc;
    if (!ci || ci->id != c->coll_id) {
        if (ci)
            coll_info_destroy(ci);
        c->has_scan = false;
        return err_set(e, ERR_QUERY_PLAN_KILLED, "PlanExecutor error during getMore :: caused by :: collection %s "
                       "was dropped", c->ns);
    }
    rc = exec_scan_open(t, ci, c->matcher, c->is_reverse, &c->pos, &s, e);
    if (rc < 0)
        goto done;
    exec_scan_give_seen(s, c->seen);
    c->seen = NULL;
    for (;;) {
        if (c->limit_left <= 0)
            break;
        pi = -1;
        rc = exec_scan_next(s, &doc, &pi, e);
        if (rc < 0)
            goto done;
        if (rc == 0) {
            if (!c->is_tailable)
                c->has_scan = false;
            break;
        }
        if (c->skip_left > 0) {
            c->skip_left--;
            continue;
        }
        rc = shape_doc(c, &doc, pi, &shaped, e);
        if (rc < 0)
            goto done;
        if (batch_is_full(b, c) || !batch_try_add(b, c, &shaped)) {
            if (c->limit_left > 0)
                cursor_buffer_push(c, &shaped);
            bson_destroy(&shaped);
            break;
        }
        bson_destroy(&shaped);
    }
    rc = 0;
    keybuf_reset(&c->pos);
    keybuf_append(&c->pos, exec_scan_position(s)->data, exec_scan_position(s)->len);
    c->seen = exec_scan_take_seen(s);
done:
    exec_scan_close(s);
    if (ci)
        coll_info_destroy(ci);
    return rc;
}

int64_t cursor_fill_batch(struct cursor *c, struct store_txn *t, int64_t max_docs, bson_t *arr, bool *is_exhausted,
                          struct err *e)
{
    struct batch b = {.arr = arr, .n = 0, .max_docs = max_docs, .n_bytes = 0};
    int rc;

    if (drain_buffer(&b, c) && c->i_doc == c->n_docs && c->has_scan && c->limit_left > 0) {
        rc = fill_from_scan(&b, c, t, e);
        if (rc < 0)
            return rc;
    }
    if (c->limit_left <= 0) {
        c->has_scan = false;
        for (size_t i = c->i_doc; i < c->n_docs; i++)
            bson_destroy(c->docs[i]);
        c->i_doc = c->n_docs = 0;
    }
    *is_exhausted = cursor_is_drained(c) && !(c->is_tailable && c->limit_left > 0);
    return b.n;
}

void cursor_append_reply(bson_t *reply, int64_t id, const char *ns, const bson_t *arr, bool is_first)
{
    bson_t cur;

    bson_append_document_begin(reply, "cursor", -1, &cur);
    bson_append_array(&cur, is_first ? "firstBatch" : "nextBatch", -1, arr);
    bson_append_int64(&cur, "id", -1, id);
    bson_append_utf8(&cur, "ns", -1, ns, -1);
    bson_append_document_end(reply, &cur);
}
