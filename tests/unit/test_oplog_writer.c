/* test_oplog_writer.c - the storage change hook and the oplog writer
 * (repl/oplog_writer.h) against real LMDB stores: each kind of change writes
 * exactly its entry (and undo record) in the same transaction, timestamps
 * strictly increase (also across restarts), "local" is never logged, and a
 * store's oplog replayed into an empty store reproduces its data. */
#include "repl/oplog_writer.h"

#include "repl/oplog_entry.h"
#include "storage/oplog.h"

#include "store_testhelp.h"

#include <sys/stat.h>

static struct store *open_at(const char *sub)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", test_dir, sub);
    mkdir(path, 0700);
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    if (store_open(path, &nosync, &s, &e) != 0)
        fprintf(stderr, "  store_open %s: %s\n", path, e.msg);
    return s;
}

/* A store with a writer installed as its hook, writable in term 1. */
struct fixture {
    struct store *s;
    struct oplog_writer *w;
};

static bool fixture_open(struct fixture *f, const char *sub)
{
    struct err e;
    err_init(&e);
    f->s = open_at(sub);
    f->w = NULL;
    if (f->s == NULL)
        return false;
    if (oplog_writer_create(f->s, &f->w, &e) != 0) {
        fprintf(stderr, "  writer create: %s\n", e.msg);
        return false;
    }
    oplog_writer_set_writable_term(f->w, 1);
    store_set_change_hook(f->s, oplog_writer_hook, f->w);
    return true;
}

static void fixture_close(struct fixture *f)
{
    oplog_writer_destroy(f->w);
    store_close(f->s);
}

static int64_t n_entries(struct store *s)
{
    struct store_txn *t = rtxn(s);
    struct oplog_stats st;
    struct err e;
    err_init(&e);
    int rc = oplog_stats(t, &st, &e);
    store_txn_end(t);
    return rc == 0 ? st.n_entries : -1;
}

/* Every entry (from ts > after) as one line "op ns o [o2]" each, in order. */
static char *entries_after(struct store *s, uint64_t after)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    bson_string_t *out = bson_string_new("");
    struct oplog_iter *it;
    if (oplog_iter_open(t, after, false, false, &it, &e) != 0) {
        store_txn_end(t);
        bson_string_append(out, "iter error");
        return bson_string_free(out, false);
    }
    bson_t doc;
    while (oplog_iter_next(it, NULL, &doc, &e) == 1) {
        struct oplog_entry en;
        if (oplog_entry_parse(&doc, &en, &e) != 0) {
            bson_string_append_printf(out, "bad entry: %s\n", e.msg);
            continue;
        }
        char *o = bson_as_relaxed_extended_json(&en.o, NULL);
        bson_string_append_printf(out, "%c %s %s", en.op, en.ns, o);
        bson_free(o);
        if (en.has_o2) {
            char *o2 = bson_as_relaxed_extended_json(&en.o2, NULL);
            bson_string_append_printf(out, " %s", o2);
            bson_free(o2);
        }
        bson_string_append(out, "\n");
    }
    oplog_iter_close(it);
    store_txn_end(t);
    return bson_string_free(out, false);
}

/* The newest entry, copied. */
static bson_t *last_entry(struct store *s)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    bson_t doc;
    bson_t *copy = NULL;
    if (oplog_last(t, NULL, &doc, &e) == 1)
        copy = bson_copy(&doc);
    store_txn_end(t);
    return copy;
}

static struct optime last_optime(struct store *s)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    struct optime o = OPTIME_NULL;
    oplog_last(t, &o, NULL, &e);
    store_txn_end(t);
    return o;
}

/* The undo record stored under ts, as JSON ("none" when absent). */
static char *undo_json(struct store *s, uint64_t ts)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    bson_t rec;
    char *out;
    if (oplog_undo_get(t, ts, &rec, &e) == 1) {
        bson_t view;
        bson_iter_t it;
        bson_init(&view);
        /* ui is random: show everything but it. */
        bson_iter_init(&it, &rec);
        while (bson_iter_next(&it))
            if (strcmp(bson_iter_key(&it), "ui") != 0)
                bson_append_value(&view, bson_iter_key(&it), -1, bson_iter_value(&it));
        out = bson_as_relaxed_extended_json(&view, NULL);
        bson_destroy(&view);
    } else {
        out = bson_strdup("none");
    }
    store_txn_end(t);
    return out;
}

static bool entry_has_uuid(const bson_t *entry, const uint8_t *uuid)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, entry, "ui") || !BSON_ITER_HOLDS_BINARY(&it))
        return false;
    bson_subtype_t sub;
    uint32_t len;
    const uint8_t *data;
    bson_iter_binary(&it, &sub, &len, &data);
    return sub == BSON_SUBTYPE_UUID && len == 16 && memcmp(data, uuid, 16) == 0;
}

static int64_t entry_term(const bson_t *entry)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, entry, "t") ? bson_iter_as_int64(&it) : -99;
}

static int doc_update_json(struct store_txn *t, const struct coll_info *c, int id, const char *json, struct err *e)
{
    bson_value_t v = {.value_type = BSON_TYPE_INT32};
    v.value.v_int32 = id;
    bson_t old;
    bool found;
    int rc = store_doc_get(t, c, &v, &old, &found, e);
    if (rc < 0 || !found)
        return rc < 0 ? rc : -1;
    bson_t *nd = J(json);
    rc = store_doc_update(t, c, &old, nd, e);
    bson_destroy(nd);
    return rc;
}

static int doc_delete_id(struct store_txn *t, const struct coll_info *c, int id, struct err *e)
{
    bson_value_t v = {.value_type = BSON_TYPE_INT32};
    v.value.v_int32 = id;
    bson_t old;
    bool found;
    int rc = store_doc_get(t, c, &v, &old, &found, e);
    if (rc < 0 || !found)
        return rc < 0 ? rc : -1;
    return store_doc_delete(t, c, &old, e);
}

TEST(insert_update_delete_each_write_their_entry_and_undo_record)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK(c != NULL);
    CHECK_EQ_INT(commit(t), 0);
    struct optime after_create = last_optime(f.s);

    t = wtxn(f.s);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": 1}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    bson_t *en = last_entry(f.s);
    CHECK(en != NULL);
    CHECK(entry_has_uuid(en, c->uuid));
    CHECK_EQ_INT(entry_term(en), 1);
    struct optime ins = last_optime(f.s);
    CHECK(ins.ts > after_create.ts);
    CHECK_EQ_INT(optime_compare(oplog_writer_last_optime(f.w), ins), 0);
    char *u = undo_json(f.s, ins.ts);
    CHECK_EQ_STR(u, "{ \"ns\" : \"test.c\", \"o2\" : { \"_id\" : 1 }, \"pre\" : null }");
    bson_free(u);
    bson_destroy(en);

    t = wtxn(f.s);
    CHECK_EQ_INT(doc_update_json(t, c, 1, "{\"_id\": 1, \"a\": 2, \"b\": \"x\"}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    struct optime upd = last_optime(f.s);
    u = undo_json(f.s, upd.ts);
    CHECK_EQ_STR(u, "{ \"ns\" : \"test.c\", \"o2\" : { \"_id\" : 1 }, \"pre\" : { \"_id\" : 1, \"a\" : 1 } }");
    bson_free(u);

    t = wtxn(f.s);
    CHECK_EQ_INT(doc_delete_id(t, c, 1, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    struct optime del = last_optime(f.s);
    u = undo_json(f.s, del.ts);
    CHECK_EQ_STR(u, "{ \"ns\" : \"test.c\", \"o2\" : { \"_id\" : 1 }, \"pre\" : { \"_id\" : 1, \"a\" : 2, \"b\" : \"x\" } }");
    bson_free(u);
    CHECK(upd.ts > ins.ts && del.ts > upd.ts);

    char *all = entries_after(f.s, after_create.ts);
    CHECK_EQ_STR(all, "i test.c { \"_id\" : 1, \"a\" : 1 }\n"
                      "u test.c { \"_id\" : 1, \"a\" : 2, \"b\" : \"x\" } { \"_id\" : 1 }\n"
                      "d test.c { \"_id\" : 1 }\n");
    bson_free(all);
    CHECK_EQ_INT(n_entries(f.s), 4);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(collection_and_index_commands_write_one_command_entry_each)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "db1", "c", "{\"capped\": true, \"size\": 4096}");
    struct coll_info *d = create_coll(t, "db1", "d", NULL);
    bool is_created = false;
    CHECK_EQ_INT(create_index(t, d, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}", &is_created, &e), 0);
    CHECK(is_created);
    /* An identical index already exists: nothing is created, nothing logged. */
    CHECK_EQ_INT(create_index(t, d, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}", &is_created, &e), 0);
    CHECK(!is_created);
    CHECK_EQ_INT(store_index_drop(t, d, "a_1", &e), 0);
    CHECK_EQ_INT(store_coll_rename(t, d, "db1", "e", false, &e), 0);
    CHECK_EQ_INT(store_coll_drop(t, c, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    char *all = entries_after(f.s, 0);
    CHECK_EQ_STR(all,
                 "c db1.$cmd { \"create\" : \"c\", \"capped\" : true, \"size\" : 4096 }\n"
                 "c db1.$cmd { \"create\" : \"d\" }\n"
                 "c db1.$cmd { \"createIndexes\" : \"d\", \"v\" : 2, \"key\" : { \"a\" : 1 }, \"name\" : \"a_1\", "
                 "\"unique\" : true }\n"
                 "c db1.$cmd { \"dropIndexes\" : \"d\", \"index\" : \"a_1\" }\n"
                 "c db1.$cmd { \"renameCollection\" : \"db1.d\", \"to\" : \"db1.e\", \"dropTarget\" : false }\n"
                 "c db1.$cmd { \"drop\" : \"c\" }\n");
    bson_free(all);
    /* Command entries carry the collection's UUID and no undo record. */
    bson_t *en = last_entry(f.s);
    CHECK(en != NULL && entry_has_uuid(en, c->uuid));
    char *u = undo_json(f.s, last_optime(f.s).ts);
    CHECK_EQ_STR(u, "none");
    bson_free(u);
    bson_destroy(en);
    coll_info_destroy(c);
    coll_info_destroy(d);
    fixture_close(&f);
}

TEST(rename_over_a_target_and_drop_database_write_a_single_entry)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *a = create_coll(t, "db2", "a", NULL);
    struct coll_info *b = create_coll(t, "db2", "b", NULL);
    coll_info_destroy(create_coll(t, "db2", "z", NULL));
    CHECK_EQ_INT(insert_json(t, b, "{\"_id\": 7}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    uint64_t before = last_optime(f.s).ts;

    t = wtxn(f.s);
    CHECK_EQ_INT(store_coll_rename(t, a, "db2", "b", true, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    char *all = entries_after(f.s, before);
    CHECK_EQ_STR(all, "c db2.$cmd { \"renameCollection\" : \"db2.a\", \"to\" : \"db2.b\", \"dropTarget\" : true }\n");
    bson_free(all);
    bson_t *en = last_entry(f.s);
    CHECK(en != NULL && entry_has_uuid(en, a->uuid));
    bson_destroy(en);

    before = last_optime(f.s).ts;
    t = wtxn(f.s);
    CHECK_EQ_INT(store_db_drop(t, "db2", &e), 0);
    /* An empty database: no change, no entry. */
    CHECK_EQ_INT(store_db_drop(t, "nothing_here", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    all = entries_after(f.s, before);
    CHECK_EQ_STR(all, "c db2.$cmd { \"dropDatabase\" : 1 }\n");
    bson_free(all);
    en = last_entry(f.s);
    bson_iter_t it;
    CHECK(en != NULL && !bson_iter_init_find(&it, en, "ui"));
    bson_destroy(en);
    coll_info_destroy(a);
    coll_info_destroy(b);
    fixture_close(&f);
}

TEST(capped_evictions_are_logged_as_deletes_after_the_insert)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "test", "cap", "{\"capped\": true, \"size\": 100000, \"max\": 2}");
    CHECK(c != NULL);
    CHECK_EQ_INT(commit(t), 0);
    uint64_t before = last_optime(f.s).ts;
    t = wtxn(f.s);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    char *all = entries_after(f.s, before);
    CHECK_EQ_STR(all, "i test.cap { \"_id\" : 1 }\n"
                      "i test.cap { \"_id\" : 2 }\n"
                      "i test.cap { \"_id\" : 3 }\n"
                      "d test.cap { \"_id\" : 1 }\n");
    bson_free(all);
    char *u = undo_json(f.s, last_optime(f.s).ts);
    CHECK_EQ_STR(u, "{ \"ns\" : \"test.cap\", \"o2\" : { \"_id\" : 1 }, \"pre\" : { \"_id\" : 1 } }");
    bson_free(u);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(an_aborted_transaction_leaves_neither_data_nor_entries)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(n_entries(f.s), 0); /* not visible before commit */
    store_txn_end(t);
    CHECK_EQ_INT(n_entries(f.s), 0);
    t = rtxn(f.s);
    struct coll_info *gone = find_coll(t, "test", "c");
    CHECK(gone == NULL);
    CHECK_EQ_INT(oplog_undo_get(t, oplog_writer_last_optime(f.w).ts, NULL, &e), 0);
    store_txn_end(t);
    coll_info_destroy(c);

    /* The next transaction still gets fresh, increasing timestamps. */
    uint64_t aborted_ts = oplog_writer_last_optime(f.w).ts;
    t = wtxn(f.s);
    c = create_coll(t, "test", "c", NULL);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 1);
    CHECK(last_optime(f.s).ts > aborted_ts);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(a_failed_change_writes_no_entry)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), -ERR_DUPLICATE_KEY);
    struct coll_info *dup = NULL;
    CHECK_EQ_INT(store_coll_create(t, "test", "c", NULL, &dup, &e), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(store_index_drop(t, c, "nope", &e), -ERR_INDEX_NOT_FOUND);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 2);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(timestamps_strictly_increase_across_transactions_and_restarts)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK_EQ_INT(commit(t), 0);
    uint64_t prev = 0;
    for (int i = 0; i < 50; i++) {
        t = wtxn(f.s);
        char doc[40];
        snprintf(doc, sizeof doc, "{\"_id\": %d}", i);
        CHECK_EQ_INT(insert_json(t, c, doc, &e), 0);
        CHECK_EQ_INT(commit(t), 0);
        uint64_t ts = last_optime(f.s).ts;
        CHECK(ts > prev);
        prev = ts;
    }
    CHECK_EQ_INT(n_entries(f.s), 51);
    /* The seconds part is the wall clock's. */
    CHECK((int64_t)(prev >> 32) >= (int64_t)time(NULL) - 5 && (int64_t)(prev >> 32) <= (int64_t)time(NULL) + 1);
    coll_info_destroy(c);
    fixture_close(&f);

    /* Plant an entry far in the future (as a clock step back would leave),
     * reopen, and append: the new entry still goes after it. */
    struct store *s = open_at("a");
    t = wtxn(s);
    uint64_t future = ((uint64_t)time(NULL) + 100000) << 32 | 5;
    bson_t *msg = J("{\"msg\": \"planted\"}");
    struct oplog_stamp st = {{future, 1}, 1, NULL, 0, 0};
    bson_t en;
    bson_init(&en);
    oplog_entry_noop(&en, &st, msg);
    CHECK_EQ_INT(oplog_append(t, &en, &e), 0);
    bson_destroy(&en);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);

    CHECK(fixture_open(&f, "a"));
    CHECK_EQ_INT(oplog_writer_last_optime(f.w).ts, future);
    CHECK_EQ_INT(oplog_writer_last_wall_ms(f.w), 1);
    t = wtxn(f.s);
    CHECK_EQ_INT(store_db_drop(t, "test", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(last_optime(f.s).ts, future + 1);
    t = wtxn(f.s);
    struct optime o;
    CHECK_EQ_INT(oplog_writer_append_noop(f.w, t, 2, msg, &o, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(o.ts, future + 2);
    CHECK_EQ_INT(o.term, 2);
    bson_destroy(msg);
    fixture_close(&f);
}

TEST(entries_written_by_another_path_are_never_overtaken)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    /* An applier appended an entry ahead of the writer without calling observe. */
    struct store_txn *t = wtxn(f.s);
    uint64_t ahead = ((uint64_t)time(NULL) + 500) << 32 | 9;
    bson_t *msg = J("{\"msg\": \"from the primary\"}");
    struct oplog_stamp st = {{ahead, 3}, 42, NULL, 0, 0};
    bson_t en;
    bson_init(&en);
    oplog_entry_noop(&en, &st, msg);
    CHECK_EQ_INT(oplog_append(t, &en, &e), 0);
    bson_destroy(&en);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK(c != NULL);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(last_optime(f.s).ts, ahead + 1);

    /* observe moves the floor and the last optime; an older one is ignored. */
    struct optime obs = {ahead + 100, 3};
    oplog_writer_observe(f.w, obs, 77);
    CHECK_EQ_INT(oplog_writer_last_optime(f.w).ts, ahead + 100);
    CHECK_EQ_INT(oplog_writer_last_wall_ms(f.w), 77);
    oplog_writer_observe(f.w, (struct optime){5, 1}, 1);
    CHECK_EQ_INT(oplog_writer_last_optime(f.w).ts, ahead + 100);
    t = wtxn(f.s);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(last_optime(f.s).ts, ahead + 101);
    bson_destroy(msg);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(changes_in_the_local_database_write_nothing)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    /* Not even a writable term is needed: local is writable in every state. */
    oplog_writer_set_writable_term(f.w, -1);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "local", "startup_log", NULL);
    CHECK(c != NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(doc_update_json(t, c, 1, "{\"_id\": 1, \"x\": 1}", &e), 0);
    CHECK_EQ_INT(doc_delete_id(t, c, 1, &e), 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"x\": 1}}", NULL, &e), 0);
    CHECK_EQ_INT(store_coll_rename(t, c, "local", "other", false, &e), 0);
    CHECK_EQ_INT(store_db_drop(t, "local", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 0);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(a_change_while_not_writable_primary_fails_and_is_not_committed)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(oplog_writer_writable_term(f.w), 1);
    oplog_writer_set_writable_term(f.w, -1);
    CHECK_EQ_INT(oplog_writer_writable_term(f.w), -1);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = NULL;
    /* The error is one that poisons the writer's batch. */
    CHECK_EQ_INT(store_coll_create(t, "test", "c", NULL, &c, &e), -ERR_INTERNAL_ERROR);
    CHECK(strstr(e.msg, "not primary") != NULL);
    CHECK(c == NULL);
    store_txn_end(t);
    CHECK_EQ_INT(n_entries(f.s), 0);
    fixture_close(&f);
}

TEST(a_disabled_hook_writes_no_entries_and_is_per_transaction)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    CHECK(store_txn_store(t) == f.s);
    store_txn_set_hook_enabled(t, false);
    struct coll_info *c = create_coll(t, "test", "c", NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(doc_update_json(t, c, 1, "{\"_id\": 1, \"x\": 1}", &e), 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"x\": 1}}", NULL, &e), 0);
    store_txn_set_hook_enabled(t, true);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 1);
    /* A new transaction starts with the hook enabled. */
    t = wtxn(f.s);
    CHECK_EQ_INT(doc_delete_id(t, c, 1, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 2);
    /* Removing the hook stops logging altogether. */
    store_set_change_hook(f.s, NULL, NULL);
    t = wtxn(f.s);
    CHECK_EQ_INT(doc_delete_id(t, c, 2, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(n_entries(f.s), 2);
    coll_info_destroy(c);
    fixture_close(&f);
}

TEST(noop_entries_carry_the_message_and_the_given_term)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    oplog_writer_set_writable_term(f.w, -1);
    bson_t *msg = J("{\"msg\": \"new primary\"}");
    struct store_txn *t = wtxn(f.s);
    struct optime o = OPTIME_NULL;
    CHECK_EQ_INT(oplog_writer_append_noop(f.w, t, 4, msg, &o, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    CHECK_EQ_INT(o.term, 4);
    CHECK_EQ_INT(optime_compare(o, last_optime(f.s)), 0);
    CHECK_EQ_INT(optime_compare(o, oplog_writer_last_optime(f.w)), 0);
    CHECK(oplog_writer_last_wall_ms(f.w) > 1600000000000LL);
    char *all = entries_after(f.s, 0);
    CHECK_EQ_STR(all, "n  { \"msg\" : \"new primary\" }\n");
    bson_free(all);
    bson_destroy(msg);
    fixture_close(&f);
}

static char *dump(struct store *s)
{
    struct store_txn *t = rtxn(s);
    struct err e;
    err_init(&e);
    struct coll_info **list;
    int n;
    bson_string_t *out = bson_string_new("");
    if (store_coll_list(t, NULL, &list, &n, &e) == 0) {
        for (int i = 0; i < n; i++) {
            struct coll_info *c = list[i];
            char *opts = bson_as_relaxed_extended_json(&c->options, NULL);
            bson_string_append_printf(out, "%s.%s uuid=%02x%02x%02x opts=%s\n", c->db, c->name, c->uuid[0],
                                      c->uuid[7], c->uuid[15], opts);
            bson_free(opts);
            for (int k = 0; k < c->n_indexes; k++) {
                char *spec = bson_as_relaxed_extended_json(&c->indexes[k].spec, NULL);
                bson_string_append_printf(out, "  index %s\n", spec);
                bson_free(spec);
            }
            struct store_iter *it;
            if (store_iter_open_coll(t, c, false, NULL, &it, &e) != 0)
                continue;
            bson_t doc;
            while (store_iter_next(it, &doc, &e) == 1) {
                char *j = bson_as_relaxed_extended_json(&doc, NULL);
                bson_string_append_printf(out, "  %s\n", j);
                bson_free(j);
            }
            store_iter_close(it);
        }
        coll_info_list_free(list, n);
    }
    store_txn_end(t);
    return bson_string_free(out, false);
}

TEST(replaying_the_oplog_into_an_empty_store_reproduces_the_data)
{
    struct fixture f;
    CHECK(fixture_open(&f, "a"));
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(f.s);
    struct coll_info *c = create_coll(t, "app", "users", NULL);
    struct coll_info *cap = create_coll(t, "app", "log", "{\"capped\": true, \"size\": 100000, \"max\": 3}");
    struct coll_info *tmp = create_coll(t, "app", "tmp", NULL);
    struct coll_info *gone = create_coll(t, "gone", "x", NULL);
    struct coll_info *loc = create_coll(t, "local", "mine", NULL);
    CHECK_EQ_INT(insert_json(t, loc, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"email\": 1}, \"name\": \"email_1\", \"unique\": true}", NULL, &e),
                 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"age\": -1}}", NULL, &e), 0);
    for (int i = 0; i < 20; i++) {
        char doc[100];
        snprintf(doc, sizeof doc, "{\"_id\": %d, \"email\": \"u%d@x\", \"age\": %d}", i, i, 20 + i);
        CHECK_EQ_INT(insert_json(t, c, doc, &e), 0);
        snprintf(doc, sizeof doc, "{\"_id\": %d, \"line\": %d}", i, i);
        CHECK_EQ_INT(insert_json(t, cap, doc, &e), 0);
    }
    CHECK_EQ_INT(insert_json(t, tmp, "{\"_id\": \"t\", \"v\": [1, 2]}", &e), 0);
    CHECK_EQ_INT(insert_json(t, gone, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    t = wtxn(f.s);
    for (int i = 3; i < 20; i += 3) {
        char doc[100];
        snprintf(doc, sizeof doc, "{\"_id\": %d, \"email\": \"n%d@y\", \"age\": 1}", i, i);
        CHECK_EQ_INT(doc_update_json(t, c, i, doc, &e), 0);
    }
    for (int i = 1; i < 20; i += 4)
        CHECK_EQ_INT(doc_delete_id(t, c, i, &e), 0);
    CHECK_EQ_INT(store_index_drop(t, c, "age_-1", &e), 0);
    CHECK_EQ_INT(store_coll_rename(t, tmp, "app", "kept", false, &e), 0);
    CHECK_EQ_INT(store_db_drop(t, "gone", &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    /* Replay A's oplog into an empty B, hook disabled as an applier does. */
    struct store *b = open_at("b");
    CHECK(b != NULL);
    struct oplog_writer *wb = NULL;
    CHECK_EQ_INT(oplog_writer_create(b, &wb, &e), 0);
    oplog_writer_set_writable_term(wb, 1);
    store_set_change_hook(b, oplog_writer_hook, wb);
    struct store_txn *ta = rtxn(f.s);
    struct store_txn *tb = wtxn(b);
    store_txn_set_hook_enabled(tb, false);
    struct oplog_iter *it;
    CHECK_EQ_INT(oplog_iter_open(ta, 0, false, false, &it, &e), 0);
    bson_t en;
    int n = 0, rc;
    while ((rc = oplog_iter_next(it, NULL, &en, &e)) == 1) {
        int arc = oplog_entry_apply(tb, &en, OPLOG_APPLY_STEADY, &e);
        if (arc != 0)
            fprintf(stderr, "  apply entry %d: %s\n", n, e.msg);
        CHECK_EQ_INT(arc, 0);
        CHECK_EQ_INT(oplog_append(tb, &en, &e), 0);
        n++;
    }
    CHECK_EQ_INT(rc, 0);
    oplog_iter_close(it);
    store_txn_end(ta);
    CHECK_EQ_INT(commit(tb), 0);
    CHECK(n > 50);
    CHECK_EQ_INT(n_entries(b), n);

    char *da = dump(f.s), *db = dump(b);
    /* B has everything of A but the local database. */
    const char *local_line = strstr(da, "local.mine");
    CHECK(local_line != NULL);
    char *da_repl = bson_strdup(da);
    if (local_line) {
        char *start = da_repl + (local_line - da);
        char *end = strstr(start, "\n  { \"_id\" : 1 }\n");
        if (end) {
            end += strlen("\n  { \"_id\" : 1 }\n");
            memmove(start, end, strlen(end) + 1);
        }
    }
    CHECK(strstr(db, "local.") == NULL);
    CHECK(strstr(da_repl, "local.") == NULL);
    CHECK_EQ_STR(db, da_repl);
    CHECK(strstr(db, "app.kept") != NULL && strstr(db, "gone.") == NULL);
    bson_free(da_repl);
    bson_free(da);
    bson_free(db);

    /* B's writer continues after the replayed entries. */
    oplog_writer_destroy(wb);
    CHECK_EQ_INT(oplog_writer_create(b, &wb, &e), 0);
    CHECK_EQ_INT(optime_compare(oplog_writer_last_optime(wb), last_optime(f.s)), 0);
    oplog_writer_destroy(wb);
    store_close(b);
    coll_info_destroy(c);
    coll_info_destroy(cap);
    coll_info_destroy(tmp);
    coll_info_destroy(gone);
    coll_info_destroy(loc);
    fixture_close(&f);
}

TEST(a_member_leads_a_term_only_until_it_steps_down_or_a_newer_term_begins)
{
    struct fixture f;
    CHECK(fixture_open(&f, "lead"));
    oplog_writer_set_writable_term(f.w, -1); /* the fixture opens as the writable primary of term 1 */
    CHECK(!oplog_writer_leads_term(f.w, 1));
    CHECK(!oplog_writer_leads_term(f.w, 3));
    CHECK(!oplog_writer_leads_term(f.w, -1));
    /* Won term 3: the new-primary no-op may be written, client writes not yet. */
    oplog_writer_set_leader_term(f.w, 3);
    CHECK(oplog_writer_leads_term(f.w, 3));
    CHECK_EQ_INT(oplog_writer_writable_term(f.w), -1);
    CHECK(!oplog_writer_leads_term(f.w, 2));
    /* Stepped down before the no-op job ran: nothing of term 3 may be appended. */
    oplog_writer_set_writable_term(f.w, -1);
    CHECK(!oplog_writer_leads_term(f.w, 3));
    /* Writable in term 4: periodic no-ops of term 4 only. */
    oplog_writer_set_leader_term(f.w, 4);
    oplog_writer_set_writable_term(f.w, 4);
    CHECK(oplog_writer_leads_term(f.w, 4));
    CHECK(!oplog_writer_leads_term(f.w, 3));
    /* Elected again in term 6 without a step-down seen in between. */
    oplog_writer_set_leader_term(f.w, 6);
    CHECK(oplog_writer_leads_term(f.w, 6));
    CHECK(!oplog_writer_leads_term(f.w, 5));
    oplog_writer_set_writable_term(f.w, -1);
    CHECK(!oplog_writer_leads_term(f.w, 6));
    CHECK(!oplog_writer_leads_term(f.w, 4));
    fixture_close(&f);
}

int main(void)
{
    RUN(insert_update_delete_each_write_their_entry_and_undo_record);
    RUN(collection_and_index_commands_write_one_command_entry_each);
    RUN(rename_over_a_target_and_drop_database_write_a_single_entry);
    RUN(capped_evictions_are_logged_as_deletes_after_the_insert);
    RUN(an_aborted_transaction_leaves_neither_data_nor_entries);
    RUN(a_failed_change_writes_no_entry);
    RUN(timestamps_strictly_increase_across_transactions_and_restarts);
    RUN(entries_written_by_another_path_are_never_overtaken);
    RUN(changes_in_the_local_database_write_nothing);
    RUN(a_change_while_not_writable_primary_fails_and_is_not_committed);
    RUN(a_disabled_hook_writes_no_entries_and_is_per_transaction);
    RUN(noop_entries_carry_the_message_and_the_given_term);
    RUN(replaying_the_oplog_into_an_empty_store_reproduces_the_data);
    RUN(a_member_leads_a_term_only_until_it_steps_down_or_a_newer_term_begins);
    return test_report();
}
