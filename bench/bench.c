/* bench.c - load generator for tallyd (or any mongod) on libmongoc.
 *
 * One pooled mongoc client; one thread per simulated client, each running a
 * closed loop of single-document operations for --seconds. Operations:
 * insert (a fresh document of about --doc-bytes), find and update by _id
 * over a pre-loaded key range [0, --keys). Latencies go into a per-thread
 * log-linear histogram (merged at the end) from which p50/p99 are read.
 * With --server-pid (repeatable: the members of a replica set), the
 * servers' user+system CPU time is read from /proc/PID/stat before and after
 * the run, summed and reported per 1,000 ops. --w sets the write concern of
 * every write ("majority" or a member count 0..50); without it the server's
 * default applies (w:1 on a standalone, majority on a replica set).
 * Prints a human line and one JSON line. Exit 1 on setup failure or if any
 * operation failed. */
#include <mongoc/mongoc.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum bench_op { OP_INSERT, OP_FIND, OP_UPDATE };

/* Histogram: values in microseconds; 16 linear sub-buckets per power of two
 * keeps the relative error of a reported percentile under ~6%. */
#define SUB_BITS 4
#define N_SUB (1 << SUB_BITS)
#define N_MAJOR 40
#define N_BUCKETS (N_MAJOR * N_SUB)

#define MAX_SERVER_PIDS 8

struct histogram {
    uint64_t counts[N_BUCKETS];
    uint64_t n;
};

struct options {
    const char *uri;
    enum bench_op op;
    int n_clients;
    int seconds;
    int doc_bytes;
    int64_t n_keys;
    int server_pids[MAX_SERVER_PIDS];
    int n_server_pids;
    const char *w;      /* NULL: no write concern sent */
    const char *db;
    const char *coll;
};

struct worker {
    pthread_t thread;
    int id;
    const struct options *opt;
    mongoc_client_pool_t *pool;
    struct histogram hist;
    uint64_t n_ops;
    uint64_t n_errors;
    char first_error[sizeof(((bson_error_t *)0)->message)];
};

static atomic_int is_stopping;

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int bucket_of(uint64_t v)
{
    if (v < N_SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int major = msb - SUB_BITS + 1;
    int sub = (int)((v >> (msb - SUB_BITS)) & (N_SUB - 1));

    if (major >= N_MAJOR)
        return N_BUCKETS - 1;
    return major * N_SUB + sub;
}

/* The upper bound (inclusive) of a bucket, in microseconds. */
static uint64_t bucket_high(int b)
{
    int major = b / N_SUB;
    int sub = b % N_SUB;

    if (major == 0)
        return (uint64_t)sub;
    int shift = major - 1;
    return (((uint64_t)(N_SUB + sub) + 1) << shift) - 1;
}

static void hist_add(struct histogram *h, uint64_t v)
{
    h->counts[bucket_of(v)]++;
    h->n++;
}

static uint64_t hist_percentile(const struct histogram *h, double p)
{
    uint64_t want = (uint64_t)(p * (double)h->n);
    uint64_t seen = 0;

    if (want >= h->n && h->n > 0)
        want = h->n - 1;
    for (int b = 0; b < N_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen > want)
            return bucket_high(b);
    }
    return 0;
}

/* utime + stime of a process in seconds, or -1. */
static double process_cpu_seconds(int pid)
{
    char path[64];
    char buf[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may contain spaces: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long utime = 0;
    unsigned long stime = 0;
    /* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Summed over the server pids; -1 if any cannot be read or none given. */
static double servers_cpu_seconds(const struct options *opt)
{
    double sum = 0;

    if (opt->n_server_pids == 0)
        return -1;
    for (int i = 0; i < opt->n_server_pids; i++) {
        double s = process_cpu_seconds(opt->server_pids[i]);

        if (s < 0)
            return -1;
        sum += s;
    }
    return sum;
}

/* --w was checked by parse_options: "majority" or a number 0..50. */
static mongoc_write_concern_t *make_write_concern(const char *w)
{
    mongoc_write_concern_t *wc = mongoc_write_concern_new();

    if (strcmp(w, "majority") == 0)
        mongoc_write_concern_set_w(wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
    else
        mongoc_write_concern_set_w(wc, (int32_t)strtol(w, NULL, 10));
    return wc;
}

static void make_doc(bson_t *doc, int64_t id, bool has_id, int doc_bytes, uint64_t seq)
{
    static const char pad_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char pad[4096];
    int pad_len = doc_bytes - 40;

    if (pad_len < 1)
        pad_len = 1;
    if (pad_len > (int)sizeof pad - 1)
        pad_len = (int)sizeof pad - 1;
    for (int i = 0; i < pad_len; i++)
        pad[i] = pad_chars[(seq + (uint64_t)i) % (sizeof pad_chars - 1)];
    pad[pad_len] = '\0';
    bson_init(doc);
    if (has_id)
        BSON_APPEND_INT64(doc, "_id", id);
    BSON_APPEND_INT64(doc, "seq", (int64_t)seq);
    BSON_APPEND_UTF8(doc, "pad", pad);
}

static uint64_t rng_next(uint64_t *state)
{
    /* xorshift64*: cheap and good enough to spread keys. */
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct options *opt = w->opt;
    mongoc_client_t *client = mongoc_client_pool_pop(w->pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, opt->db, opt->coll);
    if (opt->w) {
        mongoc_write_concern_t *wc = make_write_concern(opt->w);

        mongoc_collection_set_write_concern(coll, wc);
        mongoc_write_concern_destroy(wc);
    }
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)w->id * 7919u + 1);
    uint64_t seq = 0;
    bson_error_t error;

    while (!atomic_load(&is_stopping)) {
        bool is_ok = false;
        int64_t key = opt->n_keys > 0 ? (int64_t)(rng_next(&rng) % (uint64_t)opt->n_keys) : 0;
        uint64_t t0 = now_us();

        if (opt->op == OP_INSERT) {
            bson_t doc;

            make_doc(&doc, 0, false, opt->doc_bytes, seq);
            is_ok = mongoc_collection_insert_one(coll, &doc, NULL, NULL, &error);
            bson_destroy(&doc);
        } else if (opt->op == OP_FIND) {
            bson_t filter;
            const bson_t *found;
            bson_t *opts = BCON_NEW("limit", BCON_INT64(1), "singleBatch", BCON_BOOL(true));

            bson_init(&filter);
            BSON_APPEND_INT64(&filter, "_id", key);
            mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
            bool has_doc = mongoc_cursor_next(cur, &found);
            is_ok = !mongoc_cursor_error(cur, &error);
            if (is_ok && !has_doc) {
                is_ok = false;
                bson_set_error(&error, 0, 0, "find _id %" PRId64 " returned nothing", key);
            }
            mongoc_cursor_destroy(cur);
            bson_destroy(opts);
            bson_destroy(&filter);
        } else {
            bson_t filter;
            bson_t *update = BCON_NEW("$inc", "{", "n", BCON_INT32(1), "}", "$set", "{", "w",
                                      BCON_INT32(w->id), "}");

            bson_init(&filter);
            BSON_APPEND_INT64(&filter, "_id", key);
            is_ok = mongoc_collection_update_one(coll, &filter, update, NULL, NULL, &error);
            bson_destroy(update);
            bson_destroy(&filter);
        }
        uint64_t t1 = now_us();
        seq++;
        if (is_ok) {
            hist_add(&w->hist, t1 - t0);
            w->n_ops++;
        } else {
            if (w->n_errors == 0)
                snprintf(w->first_error, sizeof w->first_error, "%s", error.message);
            w->n_errors++;
            if (w->n_errors > 1000)
                break;
        }
    }
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(w->pool, client);
    return NULL;
}

/* Makes sure _id 0..n_keys-1 exist (drops and bulk-loads when the count
 * differs), so find and update by _id always hit. */
static int preload(mongoc_client_pool_t *pool, const struct options *opt)
{
    mongoc_client_t *client = mongoc_client_pool_pop(pool);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, opt->db, opt->coll);
    bson_error_t error;
    bson_t empty = BSON_INITIALIZER;
    int rc = 0;
    int64_t have = mongoc_collection_count_documents(coll, &empty, NULL, NULL, NULL, &error);

    if (have == opt->n_keys)
        goto done;
    mongoc_collection_drop(coll, NULL);
    for (int64_t base = 0; base < opt->n_keys; base += 1000) {
        mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, NULL);

        for (int64_t k = base; k < base + 1000 && k < opt->n_keys; k++) {
            bson_t doc;

            make_doc(&doc, k, true, opt->doc_bytes, (uint64_t)k);
            mongoc_bulk_operation_insert(bulk, &doc);
            bson_destroy(&doc);
        }
        bson_t reply;
        bool is_ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;

        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
        if (!is_ok) {
            fprintf(stderr, "bench: preload failed: %s\n", error.message);
            rc = -1;
            goto done;
        }
    }
done:
    bson_destroy(&empty);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(pool, client);
    return rc;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--uri URI] [--op insert|find|update] [--clients N] [--seconds S]\n"
            "          [--doc-bytes B] [--keys K] [--server-pid PID]... [--w 1|majority|N]\n"
            "          [--db NAME] [--coll NAME]\n",
            argv0);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    static const struct option longopts[] = {
        {"uri", required_argument, NULL, 'u'},       {"op", required_argument, NULL, 'o'},
        {"clients", required_argument, NULL, 'c'},   {"seconds", required_argument, NULL, 's'},
        {"doc-bytes", required_argument, NULL, 'b'}, {"keys", required_argument, NULL, 'k'},
        {"server-pid", required_argument, NULL, 'p'}, {"db", required_argument, NULL, 'd'},
        {"coll", required_argument, NULL, 'C'},      {"w", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    long v;

    *opt = (struct options){
        .uri = "mongodb://127.0.0.1:27017/",
        .op = OP_INSERT,
        .n_clients = 1,
        .seconds = 10,
        .doc_bytes = 100,
        .n_keys = 100000,
        .db = "bench",
        .coll = NULL,
    };
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            opt->uri = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "insert") == 0)
                opt->op = OP_INSERT;
            else if (strcmp(optarg, "find") == 0)
                opt->op = OP_FIND;
            else if (strcmp(optarg, "update") == 0)
                opt->op = OP_UPDATE;
            else
                return -1;
            break;
        case 'c':
            if (parse_int(optarg, 1, 10000, &v))
                return -1;
            opt->n_clients = (int)v;
            break;
        case 's':
            if (parse_int(optarg, 1, 86400, &v))
                return -1;
            opt->seconds = (int)v;
            break;
        case 'b':
            if (parse_int(optarg, 1, 4000, &v))
                return -1;
            opt->doc_bytes = (int)v;
            break;
        case 'k':
            if (parse_int(optarg, 1, 100000000, &v))
                return -1;
            opt->n_keys = v;
            break;
        case 'p':
            if (parse_int(optarg, 1, 1 << 30, &v))
                return -1;
            if (opt->n_server_pids == MAX_SERVER_PIDS)
                return -1;
            opt->server_pids[opt->n_server_pids++] = (int)v;
            break;
        case 'w':
            if (strcmp(optarg, "majority") != 0 && parse_int(optarg, 0, 50, &v))
                return -1;
            opt->w = optarg;
            break;
        case 'd':
            opt->db = optarg;
            break;
        case 'C':
            opt->coll = optarg;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc)
        return -1;
    if (!opt->coll)
        opt->coll = opt->op == OP_INSERT ? "ins" : "kv";
    return 0;
}

static const char *op_name(enum bench_op op)
{
    return op == OP_INSERT ? "insert" : op == OP_FIND ? "find" : "update";
}

int main(int argc, char **argv)
{
    struct options opt;

    if (parse_options(argc, argv, &opt)) {
        usage(argv[0]);
        return 2;
    }
    mongoc_init();
    bson_error_t error;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(opt.uri, &error);
    if (!uri) {
        fprintf(stderr, "bench: bad uri: %s\n", error.message);
        return 2;
    }
    mongoc_client_pool_t *pool = mongoc_client_pool_new(uri);
    mongoc_client_pool_max_size(pool, (uint32_t)opt.n_clients + 1);

    if (opt.op != OP_INSERT && preload(pool, &opt))
        return 1;

    struct worker *workers = calloc((size_t)opt.n_clients, sizeof *workers);
    if (!workers)
        abort();
    double cpu0 = servers_cpu_seconds(&opt);
    uint64_t t0 = now_us();

    for (int i = 0; i < opt.n_clients; i++) {
        workers[i].id = i;
        workers[i].opt = &opt;
        workers[i].pool = pool;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) {
            fprintf(stderr, "bench: cannot start thread %d\n", i);
            return 1;
        }
    }
    sleep((unsigned)opt.seconds);
    atomic_store(&is_stopping, 1);
    for (int i = 0; i < opt.n_clients; i++)
        pthread_join(workers[i].thread, NULL);
    uint64_t elapsed_us = now_us() - t0;
    double cpu1 = servers_cpu_seconds(&opt);

    struct histogram *total = calloc(1, sizeof *total);
    uint64_t n_ops = 0;
    uint64_t n_errors = 0;
    const char *first_error = NULL;

    if (!total)
        abort();
    for (int i = 0; i < opt.n_clients; i++) {
        for (int b = 0; b < N_BUCKETS; b++)
            total->counts[b] += workers[i].hist.counts[b];
        total->n += workers[i].hist.n;
        n_ops += workers[i].n_ops;
        n_errors += workers[i].n_errors;
        if (!first_error && workers[i].n_errors)
            first_error = workers[i].first_error;
    }
    double secs = (double)elapsed_us / 1e6;
    double ops_per_s = (double)n_ops / secs;
    double p50_ms = (double)hist_percentile(total, 0.50) / 1000.0;
    double p99_ms = (double)hist_percentile(total, 0.99) / 1000.0;
    double cpu_per_1k = (cpu0 >= 0 && cpu1 >= 0 && n_ops) ? (cpu1 - cpu0) / ((double)n_ops / 1000.0) : -1;

    printf("%s clients=%d doc_bytes=%d w=%s: %.0f ops/s, p50 %.3f ms, p99 %.3f ms, server cpu %.4f s/1k ops, "
           "%" PRIu64 " ops, %" PRIu64 " errors\n",
           op_name(opt.op), opt.n_clients, opt.doc_bytes, opt.w ? opt.w : "default", ops_per_s, p50_ms, p99_ms, cpu_per_1k, n_ops,
           n_errors);
    if (first_error)
        printf("first error: %s\n", first_error);
    printf("{\"op\":\"%s\",\"w\":\"%s\",\"clients\":%d,\"seconds\":%.2f,\"doc_bytes\":%d,\"ops\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"server_cpu_s_per_1k_ops\":%.5f}\n",
           op_name(opt.op), opt.w ? opt.w : "default", opt.n_clients, secs, opt.doc_bytes, n_ops, n_errors, ops_per_s, p50_ms, p99_ms,
           cpu_per_1k);

    free(total);
    free(workers);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return n_errors ? 1 : 0;
}
