/* test_store.c - the LMDB storage engine: environment, durability, catalog,
 * documents, collection scans, capped collections, failure handling.
 * Index behaviour is in test_store_index.c. */
#include "store_testhelp.h"

#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

TEST(open_creates_the_environment_and_reopen_keeps_committed_data)
{
    struct store *s = open_ok();
    CHECK(s != NULL);
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "test", "people", NULL);
    CHECK(c != NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"name\": \"ann\"}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    CHECK(store_file_bytes(s) > 0);
    store_close(s);

    s = open_ok();
    CHECK(s != NULL);
    t = rtxn(s);
    c = find_coll(t, "test", "people");
    CHECK(c != NULL);
    if (c) {
        bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
        bson_t doc;
        bool found = false;
        CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
        CHECK(found);
        bson_iter_t it;
        CHECK(found && bson_iter_init_find(&it, &doc, "name") && strcmp(bson_iter_utf8(&it, NULL), "ann") == 0);
        CHECK_EQ_INT(n_docs(t, c), 1);
        CHECK_EQ_INT(c->n_indexes, 1);
        CHECK_EQ_STR(c->indexes[0].name, "_id_");
        CHECK_EQ_INT(c->indexes[0].id, 0);
    }
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
}

TEST(aborted_write_transaction_leaves_nothing_behind)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "test", "gone", NULL);
    coll_info_destroy(c);
    store_txn_end(t);
    t = rtxn(s);
    c = find_coll(t, "test", "gone");
    CHECK(c == NULL);
    store_txn_end(t);
    store_close(s);
}

TEST(missing_dbpath_fails_with_an_actionable_message)
{
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    char path[400];
    snprintf(path, sizeof path, "%s/does-not-exist", test_dir);
    int rc = store_open(path, &nosync, &s, &e);
    CHECK_EQ_INT(rc, -ERR_NON_EXISTENT_PATH);
    CHECK(strstr(e.msg, "not found") != NULL);
    CHECK(strstr(e.msg, "does-not-exist") != NULL);
    CHECK(s == NULL);
    err_clear(&e);
}

TEST(dbpath_that_is_a_file_or_unwritable_is_refused)
{
    char path[400];
    snprintf(path, sizeof path, "%s/plainfile", test_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    CHECK(store_open(path, &nosync, &s, &e) < 0);
    CHECK(strstr(e.msg, "not a directory") != NULL);
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/ro", test_dir);
        mkdir(path, 0500);
        CHECK(store_open(path, &nosync, &s, &e) < 0);
        CHECK(strstr(e.msg, "not writable") != NULL);
        chmod(path, 0700);
    }
    err_clear(&e);
}

TEST(second_open_of_the_same_dbpath_fails_while_the_first_holds_the_lock)
{
    struct store *s1 = open_ok();
    CHECK(s1 != NULL);
    struct store *s2 = NULL;
    struct err e;
    err_init(&e);
    CHECK(store_open(test_dir, &nosync, &s2, &e) < 0);
    CHECK(strstr(e.msg, "another tallyd process") != NULL);
    CHECK(s2 == NULL);
    store_close(s1);
    s2 = open_ok();
    CHECK(s2 != NULL);
    store_close(s2);
    err_clear(&e);
}

TEST(unknown_format_version_is_refused)
{
    struct store *s = open_ok();
    store_close(s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    CHECK_EQ_INT(mdb_env_open(env, test_dir, 0, 0600), 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &dbi);
    uint8_t v9[8] = {0, 0, 0, 0, 0, 0, 0, 99};
    MDB_val k = {strlen("format_version"), "format_version"}, v = {8, v9};
    CHECK_EQ_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
    CHECK_EQ_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct err e;
    err_init(&e);
    s = NULL;
    CHECK_EQ_INT(store_open(test_dir, &nosync, &s, &e), -ERR_UNSUPPORTED_FORMAT);
    CHECK(strstr(e.msg, "version 99") != NULL);
    CHECK(s == NULL);
    err_clear(&e);
}

TEST(insert_get_update_delete_keep_statistics_exact)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "c", NULL);
    struct err e;
    err_init(&e);
    bson_t *d1 = J("{\"_id\": \"x\", \"v\": 1}");
    bson_t *d2 = J("{\"_id\": \"y\", \"v\": 2}");
    CHECK_EQ_INT(store_doc_insert(t, c, d1, &e), 0);
    CHECK_EQ_INT(store_doc_insert(t, c, d2, &e), 0);
    struct coll_stats st;
    CHECK_EQ_INT(store_coll_stats(t, c, &st, &e), 0);
    CHECK_EQ_INT(st.n_docs, 2);
    CHECK_EQ_INT(st.data_bytes, d1->len + d2->len);

    bson_value_t id = {.value_type = BSON_TYPE_UTF8};
    id.value.v_utf8.str = "x";
    id.value.v_utf8.len = 1;
    bson_t got;
    bool found;
    CHECK_EQ_INT(store_doc_get(t, c, &id, &got, &found, &e), 0);
    CHECK(found);
    bson_t *d1b = J("{\"_id\": \"x\", \"v\": 100, \"more\": \"stuff here\"}");
    CHECK_EQ_INT(store_doc_update(t, c, &got, d1b, &e), 0);
    CHECK_EQ_INT(store_coll_stats(t, c, &st, &e), 0);
    CHECK_EQ_INT(st.data_bytes, d1b->len + d2->len);
    CHECK_EQ_INT(store_doc_get(t, c, &id, &got, &found, &e), 0);
    bson_iter_t it;
    CHECK(found && bson_iter_init_find(&it, &got, "v") && bson_iter_as_int64(&it) == 100);

    bson_t *bad = J("{\"_id\": \"z\", \"v\": 1}");
    CHECK_EQ_INT(store_doc_update(t, c, &got, bad, &e), -ERR_IMMUTABLE_FIELD);

    CHECK_EQ_INT(store_doc_delete(t, c, &got, &e), 0);
    CHECK_EQ_INT(store_doc_get(t, c, &id, &got, &found, &e), 0);
    CHECK(!found);
    CHECK_EQ_INT(store_coll_stats(t, c, &st, &e), 0);
    CHECK_EQ_INT(st.n_docs, 1);
    CHECK_EQ_INT(st.data_bytes, d2->len);
    CHECK(st.storage_bytes > 0 && st.index_bytes > 0);
    CHECK_EQ_INT(commit(t), 0);
    bson_destroy(d1);
    bson_destroy(d2);
    bson_destroy(d1b);
    bson_destroy(bad);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(duplicate_id_reports_key_pattern_key_value_and_mongod_message)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "shop", "orders", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1.0, \"x\": 2}", &e), -ERR_DUPLICATE_KEY);
    CHECK_EQ_STR(e.msg, "E11000 duplicate key error collection: shop.orders index: _id_ dup key: { _id: 1.0 }");
    CHECK(e.has_info);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &e.info, "keyPattern") && BSON_ITER_HOLDS_DOCUMENT(&it));
    bson_iter_t kv;
    CHECK(bson_iter_init(&it, &e.info) && bson_iter_find_descendant(&it, "keyValue._id", &kv) &&
          bson_iter_as_int64(&kv) == 1);
    CHECK(bson_iter_init(&it, &e.info) && bson_iter_find_descendant(&it, "keyPattern._id", &kv) &&
          bson_iter_as_int64(&kv) == 1);
    CHECK_EQ_INT(n_docs(t, c), 1);

    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": \"s\"}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": \"s\"}", &e), -ERR_DUPLICATE_KEY);
    CHECK(strstr(e.msg, "dup key: { _id: \"s\" }") != NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": {\"$oid\": \"5f0000000000000000000001\"}}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": {\"$oid\": \"5f0000000000000000000001\"}}", &e), -ERR_DUPLICATE_KEY);
    CHECK(strstr(e.msg, "dup key: { _id: ObjectId('5f0000000000000000000001') }") != NULL);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(collection_scans_go_both_ways_and_resume_after_a_position)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c1 = create_coll(t, "db", "a", NULL);
    struct coll_info *c2 = create_coll(t, "db", "b", NULL);
    struct err e;
    err_init(&e);
    for (int i = 5; i >= 1; i--) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\": %d}", i);
        CHECK_EQ_INT(insert_json(t, c1, j, &e), 0);
        CHECK_EQ_INT(insert_json(t, c2, j, &e), 0);
    }
    CHECK_EQ_INT(commit(t), 0);
    t = rtxn(s);
    char out[256];
    coll_scan(t, c1, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1,2,3,4,5");
    coll_scan(t, c2, true, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "5,4,3,2,1");
    coll_scan(t, c1, true, "_id", out, sizeof out); /* c2's records follow c1's in the tree */
    CHECK_EQ_STR(out, "5,4,3,2,1");

    struct store_iter *it;
    bson_t doc;
    struct keybuf pos;
    keybuf_init(&pos);
    CHECK_EQ_INT(store_iter_open_coll(t, c1, false, NULL, &it, &e), 0);
    CHECK_EQ_INT(store_iter_next(it, &doc, &e), 1);
    CHECK_EQ_INT(store_iter_next(it, &doc, &e), 1);
    keybuf_append(&pos, store_iter_position(it)->data, store_iter_position(it)->len);
    store_iter_close(it);
    store_txn_end(t);

    /* A fresh transaction continues after _id 2, even once 2 is deleted. */
    t = wtxn(s);
    bson_value_t id2 = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 2};
    bool found;
    CHECK_EQ_INT(store_doc_get(t, c1, &id2, &doc, &found, &e), 0);
    CHECK_EQ_INT(store_doc_delete(t, c1, &doc, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    t = rtxn(s);
    CHECK_EQ_INT(store_iter_open_coll(t, c1, false, &pos, &it, &e), 0);
    scan_collect(it, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "3,4,5");
    store_iter_close(it);
    CHECK_EQ_INT(store_iter_open_coll(t, c1, true, &pos, &it, &e), 0);
    scan_collect(it, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1");
    store_iter_close(it);
    store_txn_end(t);
    keybuf_destroy(&pos);
    coll_info_destroy(c1);
    coll_info_destroy(c2);
    store_close(s);
    err_clear(&e);
}

TEST(capped_collection_keeps_insertion_order_and_evicts_the_oldest)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "cap", "{\"capped\": true, \"size\": 100000, \"max\": 3}");
    CHECK(c != NULL && c->is_capped && c->capped_max_docs == 3);
    CHECK(c->indexes[0].id != 0);
    struct err e;
    err_init(&e);
    const int ids[] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\": %d}", ids[i]);
        CHECK_EQ_INT(insert_json(t, c, j, &e), 0);
    }
    char out[256];
    coll_scan(t, c, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "40,20,30");
    coll_scan(t, c, true, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "30,20,40");
    CHECK_EQ_INT(n_docs(t, c), 3);
    bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 20};
    bson_t doc;
    bool found;
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    CHECK(found);
    id.value.v_int32 = 10;
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    CHECK(!found);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 30}", &e), -ERR_DUPLICATE_KEY);
    CHECK(strstr(e.msg, "index: _id_ dup key: { _id: 30 }") != NULL);
    /* Update and delete find records through the _id index. */
    id.value.v_int32 = 20;
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    bson_t *nd = J("{\"_id\": 20, \"x\": 1}");
    CHECK_EQ_INT(store_doc_update(t, c, &doc, nd, &e), 0);
    bson_destroy(nd);
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    CHECK_EQ_INT(store_doc_delete(t, c, &doc, &e), 0);
    coll_scan(t, c, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "40,30");
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(capped_collection_evicts_by_size)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "cs", "{\"capped\": true, \"size\": 4096}");
    CHECK_EQ_INT(c->capped_size_bytes, 4096);
    struct err e;
    err_init(&e);
    char pad[1001];
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    for (int i = 0; i < 10; i++) {
        char j[1100];
        snprintf(j, sizeof j, "{\"_id\": %d, \"p\": \"%s\"}", i, pad);
        CHECK_EQ_INT(insert_json(t, c, j, &e), 0);
    }
    struct coll_stats st;
    CHECK_EQ_INT(store_coll_stats(t, c, &st, &e), 0);
    CHECK(st.data_bytes <= 4096);
    CHECK_EQ_INT(st.n_docs, 4);
    char out[256];
    coll_scan(t, c, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "6,7,8,9");
    CHECK_EQ_INT(store_coll_create(t, "db", "nosize", (bson_t *)NULL, NULL, &e), 0);
    bson_t *o = J("{\"capped\": true}");
    CHECK_EQ_INT(store_coll_create(t, "db", "bad", o, NULL, &e), -ERR_INVALID_OPTIONS);
    bson_destroy(o);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(drop_rename_and_drop_database_manage_the_catalog)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct err e;
    err_init(&e);
    struct coll_info *a = create_coll(t, "one", "a", NULL);
    struct coll_info *b = create_coll(t, "one", "b", NULL);
    struct coll_info *x = create_coll(t, "two", "x", NULL);
    CHECK_EQ_INT(store_coll_create(t, "one", "a", NULL, NULL, &e), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(insert_json(t, a, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, b, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, x, "{\"_id\": 7}", &e), 0);
    CHECK_EQ_INT(create_index(t, a, "{\"key\": {\"q\": 1}}", NULL, &e), 0);

    struct coll_info **list;
    int n;
    CHECK_EQ_INT(store_coll_list(t, NULL, &list, &n, &e), 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(list[0]->name, "a");
        CHECK_EQ_STR(list[2]->db, "two");
    }
    coll_info_list_free(list, n);

    /* Rename keeps data and indexes; an existing target needs dropTarget. */
    CHECK_EQ_INT(store_coll_rename(t, a, "one", "b", false, &e), -ERR_NAMESPACE_EXISTS);
    CHECK_EQ_INT(store_coll_rename(t, a, "two", "moved", false, &e), 0);
    struct coll_info *m = find_coll(t, "two", "moved");
    CHECK(m != NULL && m->n_indexes == 2 && m->id == a->id);
    CHECK(find_coll(t, "one", "a") == NULL);
    CHECK_EQ_INT(n_docs(t, m), 1);
    CHECK_EQ_INT(store_coll_rename(t, m, "one", "b", true, &e), 0);
    struct coll_info *nb = find_coll(t, "one", "b");
    CHECK(nb != NULL && nb->id == a->id);
    char out[64];
    coll_scan(t, nb, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1");
    /* The dropped target's records are gone. */
    coll_scan(t, b, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "");

    CHECK_EQ_INT(store_db_drop(t, "two", &e), 0);
    CHECK_EQ_INT(store_coll_list(t, "two", &list, &n, &e), 0);
    CHECK_EQ_INT(n, 0);
    coll_info_list_free(list, n);
    coll_scan(t, x, false, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(store_coll_drop(t, nb, &e), 0);
    CHECK(find_coll(t, "one", "b") == NULL);
    CHECK_EQ_INT(n_docs(t, nb), 0);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(a);
    coll_info_destroy(b);
    coll_info_destroy(x);
    coll_info_destroy(m);
    coll_info_destroy(nb);
    store_close(s);
    err_clear(&e);
}

TEST(invalid_names_are_rejected)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(store_coll_create(t, "", "c", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "a.b", "c", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "a b", "c", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "db", "", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "db", "a$b", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "db", ".x", NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = '\0';
    CHECK_EQ_INT(store_coll_create(t, "db", longname, NULL, NULL, &e), -ERR_INVALID_NAMESPACE);
    CHECK_EQ_INT(store_coll_create(t, "db", "fine.with.dots", NULL, NULL, &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    store_close(s);
    err_clear(&e);
}

TEST(a_full_map_returns_out_of_disk_space_and_keeps_committed_data)
{
    struct store_options small = {1u << 20, true};
    struct store *s = NULL;
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(store_open(test_dir, &small, &s, &e), 0);
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "full", NULL);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": \"kept\"}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);

    char *pad = xmalloc(20001);
    memset(pad, 'z', 20000);
    pad[20000] = '\0';
    char *j = xmalloc(20100);
    int rc = 0;
    t = wtxn(s);
    for (int i = 0; i < 200 && rc == 0; i++) {
        snprintf(j, 20100, "{\"_id\": %d, \"p\": \"%s\"}", i, pad);
        rc = insert_json(t, c, j, &e);
    }
    CHECK_EQ_INT(rc, -ERR_OUT_OF_DISK_SPACE);
    CHECK(strstr(e.msg, "map size") != NULL);
    store_txn_end(t);
    free(pad);
    free(j);
    coll_info_destroy(c);
    store_close(s);

    s = NULL;
    CHECK_EQ_INT(store_open(test_dir, &small, &s, &e), 0);
    t = rtxn(s);
    c = find_coll(t, "db", "full");
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(n_docs(t, c), 1);
        struct store_iter *it;
        CHECK_EQ_INT(store_iter_open_coll(t, c, false, NULL, &it, &e), 0);
        bson_t doc;
        CHECK_EQ_INT(store_iter_next(it, &doc, &e), 1);
        CHECK_EQ_INT(store_iter_next(it, &doc, &e), 0);
        store_iter_close(it);
    }
    store_txn_end(t);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(committed_writes_survive_a_kill_9_of_the_writing_process)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct store_options durable = {0, false};
        struct store *s = NULL;
        struct err e;
        err_init(&e);
        if (store_open(test_dir, &durable, &s, &e) != 0)
            _exit(3);
        struct store_txn *t = wtxn(s);
        struct coll_info *c = create_coll(t, "db", "crash", NULL);
        for (int i = 0; i < 100; i++) {
            char j[64];
            snprintf(j, sizeof j, "{\"_id\": %d}", i);
            if (insert_json(t, c, j, &e) != 0)
                _exit(4);
        }
        if (commit(t) != 0)
            _exit(5);
        /* An uncommitted transaction in flight when the process dies. */
        t = wtxn(s);
        insert_json(t, c, "{\"_id\": 1000}", &e);
        kill(getpid(), SIGKILL);
        _exit(6);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct store *s = open_ok();
    CHECK(s != NULL);
    if (s == NULL)
        return;
    struct store_txn *t = rtxn(s);
    struct coll_info *c = find_coll(t, "db", "crash");
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(n_docs(t, c), 100);
        char out[1024];
        coll_scan(t, c, true, "_id", out, sizeof out);
        CHECK(strncmp(out, "99,98,97", 8) == 0);
    }
    coll_info_destroy(c);
    store_txn_end(t);
    store_close(s);
}

int main(void)
{
    RUN(open_creates_the_environment_and_reopen_keeps_committed_data);
    RUN(aborted_write_transaction_leaves_nothing_behind);
    RUN(missing_dbpath_fails_with_an_actionable_message);
    RUN(dbpath_that_is_a_file_or_unwritable_is_refused);
    RUN(second_open_of_the_same_dbpath_fails_while_the_first_holds_the_lock);
    RUN(unknown_format_version_is_refused);
    RUN(insert_get_update_delete_keep_statistics_exact);
    RUN(duplicate_id_reports_key_pattern_key_value_and_mongod_message);
    RUN(collection_scans_go_both_ways_and_resume_after_a_position);
    RUN(capped_collection_keeps_insertion_order_and_evicts_the_oldest);
    RUN(capped_collection_evicts_by_size);
    RUN(drop_rename_and_drop_database_manage_the_catalog);
    RUN(invalid_names_are_rejected);
    RUN(a_full_map_returns_out_of_disk_space_and_keeps_committed_data);
    RUN(committed_writes_survive_a_kill_9_of_the_writing_process);
    return test_report();
}
