/* test_oplog_apply.c - building, parsing, applying and undoing oplog entries
 * (repl/oplog_entry.h) against real LMDB stores. */
#include "repl/oplog_entry.h"

#include "storage/oplog.h"

#include "store_testhelp.h"

#include <sys/stat.h>

#define TS(secs, inc) ((uint64_t)(secs) << 32 | (uint32_t)(inc))

static const uint8_t UUID_A[16] = {1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t UUID_B[16] = {9, 9, 9, 9, 9, 9, 0x49, 9, 0x89, 9, 9, 9, 9, 9, 9, 9};

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

static struct oplog_stamp stamp(uint32_t secs)
{
    struct oplog_stamp st = {{TS(secs, 1), 1}, 1700000000000LL + secs, NULL, 0, 0};
    return st;
}

static bson_value_t int_id(int32_t v)
{
    bson_value_t id = {.value_type = BSON_TYPE_INT32};
    id.value.v_int32 = v;
    return id;
}

/* Applies a built entry and frees it. */
static int apply_b(struct store_txn *t, bson_t *entry, enum oplog_apply_mode mode, struct err *e)
{
    int rc = oplog_entry_apply(t, entry, mode, e);
    if (rc != 0)
        fprintf(stderr, "  apply: %s\n", e->msg);
    bson_destroy(entry);
    return rc;
}

static bson_t *b_insert(uint32_t secs, const char *ns, const uint8_t *uuid, const char *json)
{
    struct oplog_stamp st = stamp(secs);
    bson_t *out = bson_new(), *doc = J(json);
    oplog_entry_insert(out, &st, ns, uuid, doc);
    bson_destroy(doc);
    return out;
}

static bson_t *b_update(uint32_t secs, const char *ns, const uint8_t *uuid, int32_t id, const char *json)
{
    struct oplog_stamp st = stamp(secs);
    bson_t *out = bson_new(), *doc = J(json);
    bson_value_t v = int_id(id);
    oplog_entry_update(out, &st, ns, uuid, &v, doc);
    bson_destroy(doc);
    return out;
}

static bson_t *b_delete(uint32_t secs, const char *ns, const uint8_t *uuid, int32_t id)
{
    struct oplog_stamp st = stamp(secs);
    bson_t *out = bson_new();
    bson_value_t v = int_id(id);
    oplog_entry_delete(out, &st, ns, uuid, &v);
    return out;
}

static bson_t *b_cmd(uint32_t secs, const char *db, const uint8_t *uuid, const char *json)
{
    struct oplog_stamp st = stamp(secs);
    bson_t *out = bson_new(), *cmd = J(json);
    oplog_entry_command(out, &st, db, uuid, cmd);
    bson_destroy(cmd);
    return out;
}

/* Everything a store holds, as text: per collection its name, UUID, options,
 * index specs, then every document in _id order. */
static char *dump(struct store_txn *t)
{
    struct err e;
    err_init(&e);
    struct coll_info **list;
    int n;
    bson_string_t *s = bson_string_new("");
    if (store_coll_list(t, NULL, &list, &n, &e) != 0) {
        bson_string_append(s, "list error");
        return bson_string_free(s, false);
    }
    for (int i = 0; i < n; i++) {
        struct coll_info *c = list[i];
        char *opts = bson_as_relaxed_extended_json(&c->options, NULL);
        bson_string_append_printf(s, "%s.%s uuid=%02x%02x opts=%s\n", c->db, c->name, c->uuid[0], c->uuid[15], opts);
        bson_free(opts);
        for (int k = 0; k < c->n_indexes; k++) {
            char *spec = bson_as_relaxed_extended_json(&c->indexes[k].spec, NULL);
            bson_string_append_printf(s, "  index %s%s\n", spec, c->indexes[k].is_multikey ? " multikey" : "");
            bson_free(spec);
        }
        struct store_iter *it;
        if (store_iter_open_coll(t, c, false, NULL, &it, &e) != 0)
            continue;
        bson_t doc;
        while (store_iter_next(it, &doc, &e) == 1) {
            char *j = bson_as_relaxed_extended_json(&doc, NULL);
            bson_string_append_printf(s, "  %s\n", j);
            bson_free(j);
        }
        store_iter_close(it);
    }
    coll_info_list_free(list, n);
    return bson_string_free(s, false);
}

static char *dump_store(struct store *s)
{
    struct store_txn *t = rtxn(s);
    char *d = dump(t);
    store_txn_end(t);
    return d;
}

static bool coll_exists(struct store_txn *t, const char *db, const char *name)
{
    struct coll_info *c = find_coll(t, db, name);
    coll_info_destroy(c);
    return c != NULL;
}

static void check_doc(struct store_txn *t, const char *db, const char *coll, int32_t id, const char *want_json)
{
    struct coll_info *c = find_coll(t, db, coll);
    if (c == NULL) {
        CHECK(want_json == NULL);
        return;
    }
    bson_value_t v = int_id(id);
    bson_t doc;
    bool found = false;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(store_doc_get(t, c, &v, &doc, &found, &e), 0);
    if (want_json == NULL) {
        CHECK(!found);
    } else {
        bson_t *want = J(want_json);
        CHECK(found && bson_equal(&doc, want));
        bson_destroy(want);
    }
    coll_info_destroy(c);
}

/* ---------------------------------------------------------------- builders and parsing */

TEST(builders_write_mongodb_shaped_entries_that_parse_back)
{
    struct err e;
    err_init(&e);
    struct oplog_stamp st = {{TS(100, 7), 3}, 1234, NULL, 0, 0};
    bson_t *lsid = J("{\"id\": 1}");
    st.lsid = lsid;
    st.txn_number = 9;
    st.stmt_id = 2;
    bson_t out = BSON_INITIALIZER;
    bson_t *doc = J("{\"_id\": 5, \"a\": 1}");
    oplog_entry_insert(&out, &st, "d.c", UUID_A, doc);
    /* Field order is part of the format. */
    const char *order[] = {"ts", "t", "v", "op", "ns", "ui", "o", "wall", "lsid", "txnNumber", "stmtId"};
    bson_iter_t it;
    int i = 0;
    CHECK(bson_iter_init(&it, &out));
    while (bson_iter_next(&it) && i < 11)
        CHECK_EQ_STR(bson_iter_key(&it), order[i++]);
    CHECK_EQ_INT(i, 11);
    CHECK(bson_iter_init_find(&it, &out, "t") && BSON_ITER_HOLDS_INT64(&it));
    CHECK(bson_iter_init_find(&it, &out, "v") && BSON_ITER_HOLDS_INT32(&it) && bson_iter_int32(&it) == 2);
    struct oplog_entry en;
    CHECK_EQ_INT(oplog_entry_parse(&out, &en, &e), 0);
    CHECK(en.optime.ts == TS(100, 7) && en.optime.term == 3);
    CHECK_EQ_INT(en.wall_ms, 1234);
    CHECK_EQ_INT(en.op, 'i');
    CHECK_EQ_STR(en.ns, "d.c");
    CHECK(en.has_uuid && memcmp(en.uuid, UUID_A, 16) == 0);
    CHECK(bson_equal(&en.o, doc));
    CHECK(!en.has_o2);
    bson_destroy(&out);
    bson_destroy(lsid);

    st.lsid = NULL;
    bson_init(&out);
    bson_value_t id = int_id(5);
    oplog_entry_update(&out, &st, "d.c", NULL, &id, doc);
    CHECK_EQ_INT(oplog_entry_parse(&out, &en, &e), 0);
    CHECK_EQ_INT(en.op, 'u');
    CHECK(!en.has_uuid && en.has_o2);
    CHECK(bson_iter_init_find(&it, &en.o2, "_id") && bson_iter_as_int64(&it) == 5);
    CHECK(!bson_iter_init_find(&it, &out, "lsid"));
    bson_destroy(&out);

    bson_init(&out);
    oplog_entry_delete(&out, &st, "d.c", UUID_A, &id);
    CHECK_EQ_INT(oplog_entry_parse(&out, &en, &e), 0);
    CHECK_EQ_INT(en.op, 'd');
    CHECK(bson_iter_init_find(&it, &en.o, "_id") && bson_iter_as_int64(&it) == 5);
    bson_destroy(&out);

    bson_init(&out);
    bson_t *cmd = J("{\"drop\": \"c\"}");
    oplog_entry_command(&out, &st, "d", UUID_A, cmd);
    CHECK_EQ_INT(oplog_entry_parse(&out, &en, &e), 0);
    CHECK_EQ_INT(en.op, 'c');
    CHECK_EQ_STR(en.ns, "d.$cmd");
    CHECK(bson_equal(&en.o, cmd));
    bson_destroy(&out);
    bson_destroy(cmd);

    bson_init(&out);
    bson_t *msg = J("{\"msg\": \"periodic noop\"}");
    oplog_entry_noop(&out, &st, msg);
    CHECK_EQ_INT(oplog_entry_parse(&out, &en, &e), 0);
    CHECK_EQ_INT(en.op, 'n');
    CHECK_EQ_STR(en.ns, "");
    bson_destroy(&out);
    bson_destroy(msg);
    bson_destroy(doc);
}

/* Parses the JSON entry; returns the error code. $ts / $date fields use extended JSON. */
static int parse_json(const char *json, struct err *e)
{
    bson_t *b = J(json);
    struct oplog_entry en;
    int rc = oplog_entry_parse(b, &en, e);
    bson_destroy(b);
    return rc;
}

#define GOOD_HEAD "\"ts\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}, \"t\": {\"$numberLong\": \"1\"}, \"v\": 2, "
#define WALL "\"wall\": {\"$date\": 1000}"

TEST(parse_rejects_missing_fields_wrong_types_and_bad_values_with_clear_errors)
{
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \"d.c\", \"o\": {\"_id\": 1}, " WALL "}", &e), 0);
    CHECK_EQ_INT(parse_json("{\"t\": 1, \"v\": 2, \"op\": \"n\", \"ns\": \"\", \"o\": {}, " WALL "}", &e),
                 -ERR_MISSING_FIELD);
    CHECK(strstr(e.msg, "'ts'") != NULL);
    CHECK_EQ_INT(parse_json("{\"ts\": 5, \"t\": 1, \"v\": 2, \"op\": \"n\", \"ns\": \"\", \"o\": {}, " WALL "}", &e),
                 -ERR_TYPE_MISMATCH);
    CHECK(strstr(e.msg, "'ts' must be a Timestamp") != NULL);
    CHECK_EQ_INT(parse_json("{\"ts\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}, \"t\": 1, \"v\": 2, \"op\": \"n\", "
                            "\"ns\": \"\", \"o\": {}, " WALL "}",
                            &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{\"ts\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}, \"v\": 2, \"op\": \"n\", \"ns\": \"\", "
                            "\"o\": {}, " WALL "}",
                            &e),
                 -ERR_MISSING_FIELD);
    CHECK(strstr(e.msg, "'t'") != NULL);
    CHECK_EQ_INT(parse_json("{\"ts\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}, \"t\": 1.5, \"v\": 2, \"op\": \"n\", "
                            "\"ns\": \"\", \"o\": {}, " WALL "}",
                            &e),
                 -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(parse_json("{\"ts\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}, \"t\": 1, \"v\": 1, \"op\": \"n\", "
                            "\"ns\": \"\", \"o\": {}, " WALL "}",
                            &e),
                 -ERR_BAD_VALUE);
    CHECK(strstr(e.msg, "version") != NULL);
    CHECK_EQ_INT(parse_json("{\"ts\": {\"$timestamp\": {\"t\": 5, \"i\": 1}}, \"t\": 1, \"op\": \"n\", \"ns\": \"\", "
                            "\"o\": {}, " WALL "}",
                            &e),
                 -ERR_MISSING_FIELD);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"x\", \"ns\": \"\", \"o\": {}, " WALL "}", &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"ii\", \"ns\": \"\", \"o\": {}, " WALL "}", &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": 1, \"ns\": \"\", \"o\": {}, " WALL "}", &e), -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"o\": {}, " WALL "}", &e), -ERR_MISSING_FIELD);
    CHECK(strstr(e.msg, "'ns'") != NULL);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": 3, \"o\": {}, " WALL "}", &e), -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", " WALL "}", &e), -ERR_MISSING_FIELD);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"o\": [], " WALL "}", &e),
                 -ERR_TYPE_MISMATCH);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"o\": {}}", &e), -ERR_MISSING_FIELD);
    CHECK(strstr(e.msg, "'wall'") != NULL);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"o\": {}, \"wall\": 5}", &e),
                 -ERR_TYPE_MISMATCH);
    /* ui must be a 16-byte UUID. */
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"ui\": {\"$binary\": {\"base64\": \"AAAA\", "
                            "\"subType\": \"04\"}}, \"o\": {}, " WALL "}",
                            &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"ui\": \"x\", \"o\": {}, " WALL "}", &e),
                 -ERR_TYPE_MISMATCH);
    /* Per-op rules. */
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \"dc\", \"o\": {\"_id\": 1}, " WALL "}", &e),
                 -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \"d.\", \"o\": {\"_id\": 1}, " WALL "}", &e),
                 -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \".c\", \"o\": {\"_id\": 1}, " WALL "}", &e),
                 -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \"d.c\", \"o\": {\"a\": 1}, " WALL "}", &e),
                 -ERR_BAD_VALUE);
    CHECK(strstr(e.msg, "_id") != NULL);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"d\", \"ns\": \"d.c\", \"o\": {}, " WALL "}", &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"u\", \"ns\": \"d.c\", \"o\": {\"_id\": 1}, " WALL "}", &e),
                 -ERR_MISSING_FIELD);
    CHECK(strstr(e.msg, "'o2'") != NULL);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"u\", \"ns\": \"d.c\", \"o\": {\"_id\": 1}, \"o2\": {}, " WALL "}",
                            &e),
                 -ERR_BAD_VALUE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"c\", \"ns\": \"d.c\", \"o\": {\"drop\": \"c\"}, " WALL "}", &e),
                 -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"c\", \"ns\": \"d.$cmd\", \"o\": {}, " WALL "}", &e),
                 -ERR_BAD_VALUE);
    /* Unknown fields are ignored (h, b, prevOpTime, ...). */
    CHECK_EQ_INT(parse_json("{" GOOD_HEAD "\"op\": \"n\", \"ns\": \"\", \"o\": {}, \"h\": 5, \"zz\": [1], " WALL "}",
                            &e),
                 0);
    err_clear(&e);
}

TEST(apply_reports_a_bad_entry_with_its_timestamp_and_changes_nothing)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *b = J("{" GOOD_HEAD "\"op\": \"i\", \"ns\": \"d.c\", \"o\": {\"a\": 1}, " WALL "}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_BAD_VALUE);
    CHECK(strncmp(e.msg, "apply op at Timestamp(5, 1): ", 29) == 0);
    bson_destroy(b);
    b = J("{\"garbage\": true}");
    CHECK(oplog_entry_apply(t, b, OPLOG_APPLY_RECOVERING, &e) < 0);
    bson_destroy(b);
    /* Operator updates ($v:2 deltas) are not what Tally writes. */
    b = J("{" GOOD_HEAD "\"op\": \"u\", \"ns\": \"d.c\", \"o\": {\"$v\": 2, \"diff\": {}}, \"o2\": {\"_id\": 1}, " WALL
          "}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_NOT_IMPLEMENTED);
    bson_destroy(b);
    b = J("{" GOOD_HEAD "\"op\": \"u\", \"ns\": \"d.c\", \"o\": {\"_id\": 2}, \"o2\": {\"_id\": 1}, " WALL "}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    b = b_cmd(6, "d", NULL, "{\"applyOps\": []}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    CHECK(strstr(e.msg, "unsupported oplog command 'applyOps'") != NULL);
    CHECK(!coll_exists(t, "d", "c"));
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

/* ---------------------------------------------------------------- applying CRUD entries */

TEST(insert_creates_the_collection_with_the_entry_uuid_and_is_idempotent)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1, \"a\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    struct coll_info *c = find_coll(t, "d", "c");
    CHECK(c != NULL && memcmp(c->uuid, UUID_A, 16) == 0);
    CHECK_EQ_INT(n_docs(t, c), 1);
    coll_info_destroy(c);
    /* An insert of an existing _id replaces the document. */
    CHECK_EQ_INT(apply_b(t, b_insert(2, "d.c", UUID_A, "{\"_id\": 1, \"b\": 2}"), OPLOG_APPLY_STEADY, &e), 0);
    check_doc(t, "d", "c", 1, "{\"_id\": 1, \"b\": 2}");
    /* Without ui: by name. */
    CHECK_EQ_INT(apply_b(t, b_insert(3, "d.x", NULL, "{\"_id\": 4}"), OPLOG_APPLY_STEADY, &e), 0);
    check_doc(t, "d", "x", 4, "{\"_id\": 4}");
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(update_replaces_the_document_and_upserts_a_missing_one_idempotently)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1, \"a\": 1, \"b\": 1}"), OPLOG_APPLY_STEADY, &e),
                 0);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(apply_b(t, b_update(2, "d.c", UUID_A, 1, "{\"_id\": 1, \"a\": 5}"), OPLOG_APPLY_STEADY, &e), 0);
        check_doc(t, "d", "c", 1, "{\"_id\": 1, \"a\": 5}");
    }
    for (enum oplog_apply_mode m = OPLOG_APPLY_STEADY; m <= OPLOG_APPLY_RECOVERING; m++) {
        CHECK_EQ_INT(apply_b(t, b_update(3, "d.c", UUID_A, 7, "{\"_id\": 7, \"z\": 1}"), m, &e), 0);
        check_doc(t, "d", "c", 7, "{\"_id\": 7, \"z\": 1}");
    }
    struct coll_info *c = find_coll(t, "d", "c");
    CHECK_EQ_INT(n_docs(t, c), 2);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(delete_removes_the_document_and_ignores_a_missing_one_or_collection)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_insert(2, "d.c", UUID_A, "{\"_id\": 2}"), OPLOG_APPLY_STEADY, &e), 0);
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_delete(3, "d.c", UUID_A, 1), OPLOG_APPLY_STEADY, &e), 0);
    check_doc(t, "d", "c", 1, NULL);
    check_doc(t, "d", "c", 2, "{\"_id\": 2}");
    CHECK_EQ_INT(apply_b(t, b_delete(4, "d.nope", UUID_B, 1), OPLOG_APPLY_STEADY, &e), 0);
    CHECK(!coll_exists(t, "d", "nope"));
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(noop_entries_change_nothing)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    struct oplog_stamp st = stamp(1);
    bson_t *out = bson_new(), *msg = J("{\"msg\": \"new primary\"}");
    oplog_entry_noop(out, &st, msg);
    bson_destroy(msg);
    CHECK_EQ_INT(apply_b(t, out, OPLOG_APPLY_STEADY, &e), 0);
    char *d = dump(t);
    CHECK_EQ_STR(d, "");
    bson_free(d);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(steady_mode_reports_a_unique_index_conflict_and_recovering_mode_skips_it)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_cmd(1, "d", UUID_A, "{\"create\": \"c\"}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_cmd(2, "d", UUID_A, "{\"createIndexes\": \"c\", \"v\": 2, \"key\": {\"a\": 1}, "
                                                  "\"name\": \"a_1\", \"unique\": true}"),
                         OPLOG_APPLY_STEADY, &e),
                 0);
    CHECK_EQ_INT(apply_b(t, b_insert(3, "d.c", UUID_A, "{\"_id\": 2, \"a\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    bson_t *b = b_insert(4, "d.c", UUID_A, "{\"_id\": 1, \"a\": 1}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_DUPLICATE_KEY);
    CHECK(strncmp(e.msg, "apply op at Timestamp(4, 1): E11000", 35) == 0);
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_RECOVERING, &e), 0);
    bson_destroy(b);
    check_doc(t, "d", "c", 1, NULL);
    check_doc(t, "d", "c", 2, "{\"_id\": 2, \"a\": 1}");
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

/* ---------------------------------------------------------------- applying commands */

TEST(create_keeps_options_and_uuid_and_tolerates_an_identical_repeat)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    const char *cmd = "{\"create\": \"cap\", \"capped\": true, \"size\": {\"$numberLong\": \"4096\"}, \"max\": "
                      "{\"$numberLong\": \"2\"}, \"idIndex\": {\"v\": 2, \"key\": {\"_id\": 1}, \"name\": \"_id_\"}}";
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_cmd(1, "d", UUID_A, cmd), OPLOG_APPLY_STEADY, &e), 0);
    struct coll_info *c = find_coll(t, "d", "cap");
    CHECK(c != NULL && c->is_capped && c->capped_max_docs == 2 && memcmp(c->uuid, UUID_A, 16) == 0);
    bson_iter_t it;
    CHECK(c && !bson_iter_init_find(&it, &c->options, "idIndex"));
    coll_info_destroy(c);
    /* Capped eviction happens on the applying side as on the primary. */
    for (int i = 1; i <= 3; i++) {
        char doc[32];
        snprintf(doc, sizeof doc, "{\"_id\": %d}", i);
        CHECK_EQ_INT(apply_b(t, b_insert(1 + (uint32_t)i, "d.cap", UUID_A, doc), OPLOG_APPLY_STEADY, &e), 0);
    }
    check_doc(t, "d", "cap", 1, NULL);
    check_doc(t, "d", "cap", 3, "{\"_id\": 3}");
    /* Same name, no UUID, other options: steady mode refuses, recovering skips. */
    bson_t *b = b_cmd(9, "d", NULL, "{\"create\": \"cap\"}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_RECOVERING, &e), 0);
    bson_destroy(b);
    /* Same name, another UUID: the entry's collection is gone. */
    b = b_cmd(10, "d", UUID_B, "{\"create\": \"cap\"}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_RECOVERING, &e), 0);
    bson_destroy(b);
    c = find_coll(t, "d", "cap");
    CHECK(c && memcmp(c->uuid, UUID_A, 16) == 0 && c->is_capped);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

TEST(drop_and_drop_database_are_idempotent_and_drop_only_the_entry_uuid)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_insert(2, "d.other", NULL, "{\"_id\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_insert(3, "e.keep", NULL, "{\"_id\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    /* A drop of another UUID under the same name leaves d.c alone. */
    CHECK_EQ_INT(apply_b(t, b_cmd(4, "d", UUID_B, "{\"drop\": \"c\"}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK(coll_exists(t, "d", "c"));
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_cmd(5, "d", UUID_A, "{\"drop\": \"c\"}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK(!coll_exists(t, "d", "c"));
    CHECK_EQ_INT(apply_b(t, b_cmd(6, "d", NULL, "{\"drop\": \"never\"}"), OPLOG_APPLY_STEADY, &e), 0);
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_cmd(7, "d", NULL, "{\"dropDatabase\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK(!coll_exists(t, "d", "other"));
    struct coll_info *keep = find_coll(t, "e", "keep");
    CHECK(keep != NULL);
    coll_info_destroy(keep);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
}

TEST(rename_moves_the_collection_once_and_later_entries_follow_the_uuid)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.a", UUID_A, "{\"_id\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    for (int round = 0; round < 2; round++)
        CHECK_EQ_INT(apply_b(t, b_cmd(2, "d", UUID_A, "{\"renameCollection\": \"d.a\", \"to\": \"e.b\", "
                                                      "\"stayTemp\": false, \"dropTarget\": false}"),
                             OPLOG_APPLY_STEADY, &e),
                     0);
    CHECK(!coll_exists(t, "d", "a"));
    check_doc(t, "e", "b", 1, "{\"_id\": 1}");
    /* Replaying an insert recorded under the old name reaches the renamed collection by UUID. */
    CHECK_EQ_INT(apply_b(t, b_insert(3, "d.a", UUID_A, "{\"_id\": 2}"), OPLOG_APPLY_RECOVERING, &e), 0);
    check_doc(t, "e", "b", 2, "{\"_id\": 2}");
    CHECK(!coll_exists(t, "d", "a"));
    /* dropTarget replaces an existing target; without it steady mode refuses. */
    CHECK_EQ_INT(apply_b(t, b_insert(4, "d.x", UUID_B, "{\"_id\": 9}"), OPLOG_APPLY_STEADY, &e), 0);
    bson_t *b = b_cmd(5, "d", UUID_B, "{\"renameCollection\": \"d.x\", \"to\": \"e.b\"}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_NAMESPACE_EXISTS);
    bson_destroy(b);
    CHECK_EQ_INT(apply_b(t, b_cmd(6, "d", UUID_B, "{\"renameCollection\": \"d.x\", \"to\": \"e.b\", \"dropTarget\": "
                                                  "true}"),
                         OPLOG_APPLY_STEADY, &e),
                 0);
    check_doc(t, "e", "b", 9, "{\"_id\": 9}");
    check_doc(t, "e", "b", 1, NULL);
    struct coll_info *c = find_coll(t, "e", "b");
    CHECK(c && memcmp(c->uuid, UUID_B, 16) == 0);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

TEST(create_and_drop_indexes_are_idempotent_by_name_key_or_star)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1, \"a\": 1, \"b\": [1, 2]}"), OPLOG_APPLY_STEADY,
                         &e),
                 0);
    const char *ix_a = "{\"createIndexes\": \"c\", \"v\": 2, \"key\": {\"a\": 1}, \"name\": \"a_1\"}";
    const char *ix_b = "{\"createIndexes\": \"c\", \"v\": 2, \"key\": {\"b\": -1}, \"name\": \"b_-1\", \"sparse\": true}";
    const char *ix_ab = "{\"createIndexes\": \"c\", \"key\": {\"a\": 1, \"b\": 1}, \"name\": \"ab\"}";
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(apply_b(t, b_cmd(2, "d", UUID_A, ix_a), OPLOG_APPLY_STEADY, &e), 0);
        CHECK_EQ_INT(apply_b(t, b_cmd(3, "d", UUID_A, ix_b), OPLOG_APPLY_STEADY, &e), 0);
        CHECK_EQ_INT(apply_b(t, b_cmd(4, "d", UUID_A, ix_ab), OPLOG_APPLY_STEADY, &e), 0);
    }
    struct coll_info *c = find_coll(t, "d", "c");
    CHECK_EQ_INT(c->n_indexes, 4);
    CHECK(index_pos(c, "b_-1") > 0 && c->indexes[index_pos(c, "b_-1")].is_sparse &&
          c->indexes[index_pos(c, "b_-1")].is_multikey);
    coll_info_destroy(c);
    /* A conflicting spec under an existing name: steady refuses, recovering skips. */
    bson_t *b = b_cmd(5, "d", UUID_A, "{\"createIndexes\": \"c\", \"key\": {\"z\": 1}, \"name\": \"a_1\"}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_INDEX_KEY_SPECS_CONFLICT);
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_RECOVERING, &e), 0);
    bson_destroy(b);
    for (int round = 0; round < 2; round++) {
        CHECK_EQ_INT(apply_b(t, b_cmd(6, "d", UUID_A, "{\"dropIndexes\": \"c\", \"index\": \"a_1\"}"),
                             OPLOG_APPLY_STEADY, &e),
                     0);
        CHECK_EQ_INT(apply_b(t, b_cmd(7, "d", UUID_A, "{\"dropIndexes\": \"c\", \"index\": {\"b\": -1}}"),
                             OPLOG_APPLY_STEADY, &e),
                     0);
    }
    c = find_coll(t, "d", "c");
    CHECK_EQ_INT(c->n_indexes, 2);
    CHECK(index_pos(c, "ab") == 1);
    coll_info_destroy(c);
    CHECK_EQ_INT(apply_b(t, b_cmd(8, "d", UUID_A, "{\"dropIndexes\": \"c\", \"index\": \"*\"}"), OPLOG_APPLY_STEADY,
                         &e),
                 0);
    c = find_coll(t, "d", "c");
    CHECK_EQ_INT(c->n_indexes, 1);
    coll_info_destroy(c);
    /* Missing collection or index: nothing to do; a missing 'index' is an error. */
    CHECK_EQ_INT(apply_b(t, b_cmd(9, "d", NULL, "{\"dropIndexes\": \"zz\", \"index\": \"a_1\"}"), OPLOG_APPLY_STEADY,
                         &e),
                 0);
    b = b_cmd(10, "d", UUID_A, "{\"dropIndexes\": \"c\"}");
    CHECK_EQ_INT(oplog_entry_apply(t, b, OPLOG_APPLY_STEADY, &e), -ERR_BAD_VALUE);
    bson_destroy(b);
    /* An index on a missing collection creates it, with the UUID. */
    CHECK_EQ_INT(apply_b(t, b_cmd(11, "d", UUID_B, "{\"createIndexes\": \"n\", \"key\": {\"q\": 1}, \"name\": \"q_1\"}"),
                         OPLOG_APPLY_STEADY, &e),
                 0);
    c = find_coll(t, "d", "n");
    CHECK(c && c->n_indexes == 2 && memcmp(c->uuid, UUID_B, 16) == 0);
    coll_info_destroy(c);
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

TEST(entries_of_a_dropped_collection_never_touch_a_newer_one_of_the_same_name)
{
    /* History: create c (A), insert 1, drop c, create c (B), insert 2.
     * Replaying all of it on the final state must leave c(B) = {2}. */
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    bson_t *hist[5] = {
        b_cmd(1, "d", UUID_A, "{\"create\": \"c\"}"),       b_insert(2, "d.c", UUID_A, "{\"_id\": 1}"),
        b_cmd(3, "d", UUID_A, "{\"drop\": \"c\"}"),         b_cmd(4, "d", UUID_B, "{\"create\": \"c\"}"),
        b_insert(5, "d.c", UUID_B, "{\"_id\": 2}"),
    };
    for (int round = 0; round < 2; round++) {
        struct store_txn *t = wtxn(s);
        for (int i = 0; i < 5; i++)
            CHECK_EQ_INT(oplog_entry_apply(t, hist[i], round ? OPLOG_APPLY_RECOVERING : OPLOG_APPLY_STEADY, &e), 0);
        CHECK_EQ_INT(commit(t), 0);
        t = rtxn(s);
        char *d = dump(t);
        CHECK(strstr(d, "d.c uuid=0909") != NULL);
        CHECK(strstr(d, "  { \"_id\" : 2 }") != NULL);
        CHECK(strstr(d, "  { \"_id\" : 1 }") == NULL);
        bson_free(d);
        store_txn_end(t);
    }
    for (int i = 0; i < 5; i++)
        bson_destroy(hist[i]);
    store_close(s);
}

/* ---------------------------------------------------------------- replay equals direct execution */

/* Does operations directly on a store while recording the entries a primary
 * would write, into the same transaction's oplog. */
struct recorder {
    struct store_txn *t;
    uint32_t secs;
    struct err e;
};

static void rec_log(struct recorder *r, bson_t *entry)
{
    CHECK_EQ_INT(oplog_append(r->t, entry, &r->e), 0);
    bson_destroy(entry);
}

static struct coll_info *rec_coll(struct recorder *r, const char *db, const char *name)
{
    struct coll_info *c = find_coll(r->t, db, name);
    if (c)
        return c;
    /* An implicit create is logged as a create entry before the write (replication.md 2.1). */
    c = create_coll(r->t, db, name, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "{\"create\": \"%s\"}", name);
    rec_log(r, b_cmd(++r->secs, db, c->uuid, cmd));
    return c;
}

static void rec_create(struct recorder *r, const char *db, const char *name, const char *opts)
{
    struct coll_info *c = create_coll(r->t, db, name, opts);
    CHECK(c != NULL);
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cmd, "create", name);
    bson_concat(&cmd, &c->options);
    struct oplog_stamp st = stamp(++r->secs);
    bson_t *out = bson_new();
    oplog_entry_command(out, &st, db, c->uuid, &cmd);
    rec_log(r, out);
    bson_destroy(&cmd);
    coll_info_destroy(c);
}

static void rec_put(struct recorder *r, const char *db, const char *name, const char *json)
{
    struct coll_info *c = rec_coll(r, db, name);
    bson_t *doc = J(json);
    bson_iter_t it;
    bson_iter_init_find(&it, doc, "_id");
    bson_value_t id = *bson_iter_value(&it);
    bson_t old;
    bool found;
    CHECK_EQ_INT(store_doc_get(r->t, c, &id, &old, &found, &r->e), 0);
    char ns[128];
    snprintf(ns, sizeof ns, "%s.%s", db, name);
    struct oplog_stamp st = stamp(++r->secs);
    bson_t *out = bson_new();
    if (found) {
        CHECK_EQ_INT(store_doc_update(r->t, c, &old, doc, &r->e), 0);
        oplog_entry_update(out, &st, ns, c->uuid, &id, doc);
    } else {
        CHECK_EQ_INT(store_doc_insert(r->t, c, doc, &r->e), 0);
        oplog_entry_insert(out, &st, ns, c->uuid, doc);
    }
    rec_log(r, out);
    bson_destroy(doc);
    coll_info_destroy(c);
}

static void rec_delete(struct recorder *r, const char *db, const char *name, int32_t id)
{
    struct coll_info *c = find_coll(r->t, db, name);
    bson_value_t v = int_id(id);
    bson_t old;
    bool found = false;
    CHECK_EQ_INT(store_doc_get(r->t, c, &v, &old, &found, &r->e), 0);
    CHECK(found);
    CHECK_EQ_INT(store_doc_delete(r->t, c, &old, &r->e), 0);
    char ns[128];
    snprintf(ns, sizeof ns, "%s.%s", db, name);
    rec_log(r, b_delete(++r->secs, ns, c->uuid, id));
    coll_info_destroy(c);
}

static void rec_index(struct recorder *r, const char *db, const char *name, const char *spec_json)
{
    struct coll_info *c = rec_coll(r, db, name);
    CHECK_EQ_INT(create_index(r->t, c, spec_json, NULL, &r->e), 0);
    coll_info_destroy(c);
    c = find_coll(r->t, db, name);
    /* The entry carries the spec as listIndexes shows it (the last index). */
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cmd, "createIndexes", name);
    bson_concat(&cmd, &c->indexes[c->n_indexes - 1].spec);
    struct oplog_stamp st = stamp(++r->secs);
    bson_t *out = bson_new();
    oplog_entry_command(out, &st, db, c->uuid, &cmd);
    rec_log(r, out);
    bson_destroy(&cmd);
    coll_info_destroy(c);
}

static void rec_simple_cmd(struct recorder *r, const char *db, const char *name, const char *cmd_json)
{
    struct coll_info *c = name ? find_coll(r->t, db, name) : NULL;
    rec_log(r, b_cmd(++r->secs, db, c ? c->uuid : NULL, cmd_json));
    coll_info_destroy(c);
}

/* A history touching every entry type; the direct effects are done on r->t. */
static void run_workload(struct recorder *r)
{
    rec_put(r, "app", "users", "{\"_id\": 1, \"name\": \"ann\", \"tags\": [\"a\", \"b\"]}");
    rec_put(r, "app", "users", "{\"_id\": 2, \"name\": \"bob\"}");
    rec_index(r, "app", "users", "{\"key\": {\"name\": 1}, \"name\": \"name_1\", \"unique\": true}");
    rec_index(r, "app", "users", "{\"key\": {\"tags\": 1}, \"name\": \"tags_1\"}");
    rec_put(r, "app", "users", "{\"_id\": 3, \"name\": \"cy\", \"tags\": [\"c\"]}");
    rec_put(r, "app", "users", "{\"_id\": 2, \"name\": \"bobby\", \"age\": 30}");
    rec_delete(r, "app", "users", 1);
    rec_create(r, "app", "log", "{\"capped\": true, \"size\": 4096, \"max\": 3}");
    for (int i = 1; i <= 5; i++) {
        char doc[64];
        snprintf(doc, sizeof doc, "{\"_id\": %d, \"line\": \"l%d\"}", i, i);
        rec_put(r, "app", "log", doc);
    }
    rec_put(r, "app", "tmp", "{\"_id\": 1}");
    rec_put(r, "app", "tmp", "{\"_id\": 2}");
    struct coll_info *tmp = find_coll(r->t, "app", "tmp");
    CHECK_EQ_INT(store_coll_rename(r->t, tmp, "arch", "tmp_old", false, &r->e), 0);
    rec_log(r, b_cmd(++r->secs, "app", tmp->uuid,
                     "{\"renameCollection\": \"app.tmp\", \"to\": \"arch.tmp_old\", \"dropTarget\": false}"));
    coll_info_destroy(tmp);
    rec_put(r, "arch", "tmp_old", "{\"_id\": 3}");
    rec_put(r, "app", "gone", "{\"_id\": 1}");
    rec_simple_cmd(r, "app", "gone", "{\"drop\": \"gone\"}");
    struct coll_info *gone = find_coll(r->t, "app", "gone");
    CHECK_EQ_INT(store_coll_drop(r->t, gone, &r->e), 0);
    coll_info_destroy(gone);
    rec_put(r, "app", "gone", "{\"_id\": 5, \"second\": true}");
    rec_put(r, "scratch", "a", "{\"_id\": 1}");
    rec_put(r, "scratch", "b", "{\"_id\": 1}");
    rec_log(r, b_cmd(++r->secs, "scratch", NULL, "{\"dropDatabase\": 1}"));
    CHECK_EQ_INT(store_db_drop(r->t, "scratch", &r->e), 0);
    rec_index(r, "app", "users", "{\"key\": {\"age\": -1}, \"name\": \"age_-1\", \"sparse\": true}");
    rec_simple_cmd(r, "app", "users", "{\"dropIndexes\": \"users\", \"index\": \"tags_1\"}");
    struct coll_info *u = find_coll(r->t, "app", "users");
    CHECK_EQ_INT(store_index_drop(r->t, u, "tags_1", &r->e), 0);
    coll_info_destroy(u);
    rec_put(r, "app", "users", "{\"_id\": 4, \"name\": \"dee\", \"age\": 41}");
    rec_put(r, "app", "users", "{\"_id\": 3, \"name\": \"cyrus\"}");
}

/* Applies every oplog entry of src to dst, in order, each `times` times. */
static void replay(struct store *src, struct store *dst, enum oplog_apply_mode mode, int times)
{
    struct err e;
    err_init(&e);
    struct store_txn *rt = rtxn(src), *wt = wtxn(dst);
    struct oplog_iter *it;
    CHECK_EQ_INT(oplog_iter_open(rt, 0, true, false, &it, &e), 0);
    bson_t entry;
    int n = 0;
    while (oplog_iter_next(it, NULL, &entry, &e) == 1) {
        for (int k = 0; k < times; k++) {
            int rc = oplog_entry_apply(wt, &entry, mode, &e);
            if (rc != 0)
                fprintf(stderr, "  replay: %s\n", e.msg);
            CHECK_EQ_INT(rc, 0);
        }
        n++;
    }
    CHECK(n > 20);
    oplog_iter_close(it);
    store_txn_end(rt);
    CHECK_EQ_INT(commit(wt), 0);
}

TEST(replaying_the_oplog_into_an_empty_store_reproduces_the_data_exactly)
{
    struct store *a = open_at("a"), *b = open_at("b");
    struct recorder r = {wtxn(a), 0, {0}};
    err_init(&r.e);
    run_workload(&r);
    CHECK_EQ_INT(commit(r.t), 0);
    char *da = dump_store(a);
    replay(a, b, OPLOG_APPLY_STEADY, 1);
    char *db = dump_store(b);
    CHECK_EQ_STR(db, da);
    CHECK(strstr(da, "arch.tmp_old") != NULL && strstr(da, "scratch.") == NULL && strstr(da, "age_-1") != NULL);
    if (strcmp(da, db) != 0)
        fprintf(stderr, "--- direct\n%s--- replayed\n%s", da, db);
    bson_free(db);

    /* The whole history again, on data that already reflects it (recovery). */
    replay(a, b, OPLOG_APPLY_RECOVERING, 1);
    db = dump_store(b);
    CHECK_EQ_STR(db, da);
    bson_free(db);
    bson_free(da);
    store_close(a);
    store_close(b);
}

TEST(applying_each_entry_twice_in_a_row_gives_the_same_data)
{
    struct store *a = open_at("a"), *b = open_at("b");
    struct recorder r = {wtxn(a), 0, {0}};
    err_init(&r.e);
    run_workload(&r);
    CHECK_EQ_INT(commit(r.t), 0);
    char *da = dump_store(a);
    replay(a, b, OPLOG_APPLY_STEADY, 2);
    char *db = dump_store(b);
    CHECK_EQ_STR(db, da);
    bson_free(db);
    bson_free(da);
    store_close(a);
    store_close(b);
}

/* ---------------------------------------------------------------- undo */

TEST(undo_records_revert_inserts_updates_and_deletes_in_reverse_order)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    CHECK_EQ_INT(apply_b(t, b_insert(1, "d.c", UUID_A, "{\"_id\": 1, \"v\": 1}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_insert(2, "d.c", UUID_A, "{\"_id\": 2, \"v\": 2}"), OPLOG_APPLY_STEADY, &e), 0);
    CHECK_EQ_INT(apply_b(t, b_cmd(3, "d", UUID_A, "{\"createIndexes\": \"c\", \"key\": {\"v\": 1}, \"name\": "
                                                  "\"v_1\", \"unique\": true}"),
                         OPLOG_APPLY_STEADY, &e),
                 0);
    CHECK_EQ_INT(commit(t), 0);
    char *before = dump_store(s);

    /* Above the commit point: each entry is logged with its undo record, then applied. */
    bson_t *above[] = {
        b_insert(10, "d.c", UUID_A, "{\"_id\": 3, \"v\": 3}"),
        b_update(11, "d.c", UUID_A, 1, "{\"_id\": 1, \"v\": 10}"),
        b_delete(12, "d.c", UUID_A, 2),
        b_update(13, "d.c", UUID_A, 3, "{\"_id\": 3, \"v\": 2}"),
        b_update(14, "d.c", UUID_A, 9, "{\"_id\": 9, \"v\": 99}"),
        b_delete(15, "d.c", UUID_A, 42),
        b_insert(16, "d.new", UUID_B, "{\"_id\": 1}"),
    };
    int n = (int)(sizeof above / sizeof above[0]);
    t = wtxn(s);
    for (int i = 0; i < n; i++) {
        bson_t rec = BSON_INITIALIZER;
        bool has = false;
        CHECK_EQ_INT(oplog_entry_undo_capture(t, above[i], &rec, &has, &e), 0);
        CHECK(has);
        struct oplog_entry en;
        CHECK_EQ_INT(oplog_entry_parse(above[i], &en, &e), 0);
        CHECK_EQ_INT(oplog_append(t, above[i], &e), 0);
        CHECK_EQ_INT(oplog_undo_put(t, en.optime.ts, &rec, &e), 0);
        bson_destroy(&rec);
        CHECK_EQ_INT(oplog_entry_apply(t, above[i], OPLOG_APPLY_STEADY, &e), 0);
    }
    CHECK_EQ_INT(commit(t), 0);
    t = rtxn(s);
    check_doc(t, "d", "c", 3, "{\"_id\": 3, \"v\": 2}");
    check_doc(t, "d", "c", 2, NULL);
    store_txn_end(t);

    /* Rollback to Timestamp(2, *): undo newest first, then truncate. */
    t = wtxn(s);
    struct oplog_iter *it;
    CHECK_EQ_INT(oplog_iter_open(t, UINT64_MAX, true, true, &it, &e), 0);
    struct optime o;
    int n_undone = 0;
    while (oplog_iter_next(it, &o, NULL, &e) == 1) {
        bson_t rec;
        CHECK_EQ_INT(oplog_undo_get(t, o.ts, &rec, &e), 1);
        int rc = oplog_entry_undo(t, &rec, &e);
        if (rc != 0)
            fprintf(stderr, "  undo: %s\n", e.msg);
        CHECK_EQ_INT(rc, 0);
        n_undone++;
    }
    oplog_iter_close(it);
    CHECK_EQ_INT(n_undone, n);
    int64_t n_removed;
    CHECK_EQ_INT(oplog_truncate_after(t, TS(2, 1), &n_removed, &e), 0);
    CHECK_EQ_INT(n_removed, n);
    CHECK_EQ_INT(commit(t), 0);

    /* Same data as before, except the empty collection created by the insert into d.new. */
    char *after = dump_store(s);
    char *extra = strstr(after, "d.new");
    CHECK(extra != NULL);
    if (extra) {
        CHECK(strchr(extra, '\n') && strstr(strchr(extra, '\n'), "\n  {") == NULL);
        *extra = '\0';
    }
    CHECK_EQ_STR(after, before);
    bson_free(after);
    bson_free(before);
    for (int i = 0; i < n; i++)
        bson_destroy(above[i]);
    err_clear(&e);
    store_close(s);
}

TEST(undo_capture_skips_commands_and_undo_rejects_malformed_records)
{
    struct store *s = open_ok();
    struct err e;
    err_init(&e);
    struct store_txn *t = wtxn(s);
    bson_t *cmd = b_cmd(1, "d", UUID_A, "{\"drop\": \"c\"}");
    bson_t rec = BSON_INITIALIZER;
    bool has = true;
    CHECK_EQ_INT(oplog_entry_undo_capture(t, cmd, &rec, &has, &e), 0);
    CHECK(!has && bson_empty(&rec));
    bson_destroy(cmd);
    bson_t *bad = J("{\"ns\": \"d.c\", \"o2\": {\"_id\": 1}}");
    CHECK_EQ_INT(oplog_entry_undo(t, bad, &e), -ERR_BAD_VALUE);
    bson_destroy(bad);
    bad = J("{\"ns\": \"d.c\", \"o2\": {\"x\": 1}, \"pre\": null}");
    CHECK_EQ_INT(oplog_entry_undo(t, bad, &e), -ERR_BAD_VALUE);
    bson_destroy(bad);
    bad = J("{\"ns\": \"nodot\", \"o2\": {\"_id\": 1}, \"pre\": null}");
    CHECK_EQ_INT(oplog_entry_undo(t, bad, &e), -ERR_INVALID_NAMESPACE);
    bson_destroy(bad);
    /* A pre-image restores a deleted document, creating the collection if needed. */
    bson_t *ok = J("{\"ns\": \"d.c\", \"o2\": {\"_id\": 1}, \"pre\": {\"_id\": 1, \"k\": 1}}");
    CHECK_EQ_INT(oplog_entry_undo(t, ok, &e), 0);
    CHECK_EQ_INT(oplog_entry_undo(t, ok, &e), 0);
    bson_destroy(ok);
    check_doc(t, "d", "c", 1, "{\"_id\": 1, \"k\": 1}");
    CHECK_EQ_INT(commit(t), 0);
    err_clear(&e);
    store_close(s);
}

int main(void)
{
    RUN(builders_write_mongodb_shaped_entries_that_parse_back);
    RUN(parse_rejects_missing_fields_wrong_types_and_bad_values_with_clear_errors);
    RUN(apply_reports_a_bad_entry_with_its_timestamp_and_changes_nothing);
    RUN(insert_creates_the_collection_with_the_entry_uuid_and_is_idempotent);
    RUN(update_replaces_the_document_and_upserts_a_missing_one_idempotently);
    RUN(delete_removes_the_document_and_ignores_a_missing_one_or_collection);
    RUN(noop_entries_change_nothing);
    RUN(steady_mode_reports_a_unique_index_conflict_and_recovering_mode_skips_it);
    RUN(create_keeps_options_and_uuid_and_tolerates_an_identical_repeat);
    RUN(drop_and_drop_database_are_idempotent_and_drop_only_the_entry_uuid);
    RUN(rename_moves_the_collection_once_and_later_entries_follow_the_uuid);
    RUN(create_and_drop_indexes_are_idempotent_by_name_key_or_star);
    RUN(entries_of_a_dropped_collection_never_touch_a_newer_one_of_the_same_name);
    RUN(replaying_the_oplog_into_an_empty_store_reproduces_the_data_exactly);
    RUN(applying_each_entry_twice_in_a_row_gives_the_same_data);
    RUN(undo_records_revert_inserts_updates_and_deletes_in_reverse_order);
    RUN(undo_capture_skips_commands_and_undo_rejects_malformed_records);
    return test_report();
}
