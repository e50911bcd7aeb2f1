/* test_store_index.c - secondary indexes: keys of documents (compound,
 * dotted, multikey, sparse), uniqueness, builds, specs, and index scans. */
#include "store_testhelp.h"

TEST(unique_index_rejects_duplicates_on_insert_and_update_without_changing_anything)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "u", NULL);
    struct err e;
    err_init(&e);
    bool is_created = false;
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}", &is_created, &e),
                 0);
    CHECK(is_created);
    coll_info_destroy(c);
    c = find_coll(t, "db", "u");
    CHECK_EQ_INT(c->n_indexes, 2);
    CHECK(c->indexes[1].is_unique);
    CHECK(c->indexes[1].id > 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"a\": 2}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"a\": 1}", &e), -ERR_DUPLICATE_KEY);
    CHECK_EQ_STR(e.msg, "E11000 duplicate key error collection: db.u index: a_1 dup key: { a: 1 }");
    bson_iter_t it, kv;
    CHECK(bson_iter_init(&it, &e.info) && bson_iter_find_descendant(&it, "keyValue.a", &kv) &&
          bson_iter_as_int64(&kv) == 1);
    CHECK_EQ_INT(n_docs(t, c), 2);
    bson_value_t id3 = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 3};
    bson_t got;
    bool found = true;
    store_doc_get(t, c, &id3, &got, &found, &e);
    CHECK(!found);

    /* Update of doc 2 to a: 1 conflicts; update of doc 1 keeping a: 1 does not. */
    bson_value_t id2 = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 2};
    CHECK_EQ_INT(store_doc_get(t, c, &id2, &got, &found, &e), 0);
    bson_t *nd = J("{\"_id\": 2, \"a\": 1}");
    CHECK_EQ_INT(store_doc_update(t, c, &got, nd, &e), -ERR_DUPLICATE_KEY);
    bson_destroy(nd);
    bson_value_t id1 = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
    CHECK_EQ_INT(store_doc_get(t, c, &id1, &got, &found, &e), 0);
    nd = J("{\"_id\": 1, \"a\": 1, \"b\": true}");
    CHECK_EQ_INT(store_doc_update(t, c, &got, nd, &e), 0);
    bson_destroy(nd);

    /* Missing fields are null: a second document without a collides. */
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 4}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 5}", &e), -ERR_DUPLICATE_KEY);
    CHECK(strstr(e.msg, "dup key: { a: null }") != NULL);

    /* The index still maps a == 2 to doc 2 only. */
    struct key_range r;
    range_int(&r, 2, 2, false, false, false);
    char out[256];
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "2");
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(compound_unique_index_reports_every_field)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "cu", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1, \"b\": -1}, \"unique\": true}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "cu");
    CHECK_EQ_STR(c->indexes[1].name, "a_1_b_-1");
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": 1, \"b\": \"x\"}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"a\": 1, \"b\": \"y\"}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"a\": 1, \"b\": \"x\"}", &e), -ERR_DUPLICATE_KEY);
    CHECK_EQ_STR(e.msg, "E11000 duplicate key error collection: db.cu index: a_1_b_-1 dup key: { a: 1, b: \"x\" }");
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(index_build_over_existing_duplicates_fails_and_leaves_no_trace)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "b", NULL);
    struct err e;
    err_init(&e);
    for (int i = 0; i < 50; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\": %d, \"a\": %d}", i, i == 40 ? 3 : i);
        CHECK_EQ_INT(insert_json(t, c, j, &e), 0);
    }
    bool is_created = true;
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}", &is_created, &e),
                 -ERR_DUPLICATE_KEY);
    CHECK(!is_created);
    struct coll_info *c2 = find_coll(t, "db", "b");
    CHECK_EQ_INT(c2->n_indexes, 1);
    coll_info_destroy(c2);
    /* A non-unique build succeeds and indexes every document. */
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"a_1\"}", &is_created, &e), 0);
    CHECK(is_created);
    c2 = find_coll(t, "db", "b");
    CHECK_EQ_INT(c2->n_indexes, 2);
    struct key_range r;
    range_int(&r, 3, 3, false, false, false);
    char out[256];
    index_scan(t, c2, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "3,40");
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    coll_info_destroy(c2);
    store_close(s);
    err_clear(&e);
}

TEST(multikey_index_gets_one_key_per_element_and_persists_the_flag)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "m", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"tags\": 1}, \"name\": \"tags_1\"}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "m");
    CHECK(!c->indexes[1].is_multikey);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"tags\": 5}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"tags\": [1, 5, 9, 5]}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"tags\": [2]}", &e), 0);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);

    s = open_ok();
    t = rtxn(s);
    c = find_coll(t, "db", "m");
    CHECK(c->indexes[1].is_multikey);
    struct key_range r;
    char out[256];
    range_int(&r, 5, 5, false, false, false);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1,2");
    range_free(&r, 1);
    range_all(&r);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "2,3,1,2,2"); /* keys 1(2), 2(3), 5(1), 5(2), 9(2) */
    range_free(&r, 1);
    store_txn_end(t);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(dotted_paths_through_arrays_of_documents_are_indexed)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "d", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a.b\": 1}, \"name\": \"ab\"}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "d");
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": {\"b\": 7}}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"a\": [{\"b\": 3}, {\"b\": 7}]}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"a\": {\"c\": 1}}", &e), 0);
    struct key_range r;
    char out[256];
    range_int(&r, 7, 7, false, false, false);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1,2");
    range_free(&r, 1);
    range_int(&r, 0, 100, false, false, false);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "2,1,2");
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(parallel_arrays_in_a_compound_index_are_rejected)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "p", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1, \"b\": 1}}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "p");
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": [1, 2], \"b\": 3}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"a\": [1, 2], \"b\": [3, 4]}", &e), -ERR_BAD_VALUE);
    CHECK(strstr(e.msg, "cannot index parallel arrays") != NULL);
    CHECK_EQ_INT(n_docs(t, c), 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(sparse_index_skips_documents_missing_every_indexed_field)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "sp", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"sparse\": true, \"unique\": true}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "sp");
    CHECK(c->indexes[1].is_sparse);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2}", &e), 0); /* no null collision under sparse */
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 3, \"a\": null}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 4, \"a\": 1}", &e), 0);
    struct key_range r;
    range_all(&r);
    char out[256];
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "3,4");
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(empty_array_is_indexed_once)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "ea", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "ea");
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": []}", &e), 0);
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 2, \"a\": 1}", &e), 0);
    struct key_range r;
    range_all(&r);
    char out[256];
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK(strcmp(out, "1,2") == 0 || strcmp(out, "2,1") == 0);
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(index_scans_walk_several_ranges_with_exclusive_bounds_and_descending_keys)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "r", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}}", NULL, &e), 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": -1}}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "r");
    for (int i = 0; i < 20; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\": %d, \"a\": %d}", 100 + i, i);
        CHECK_EQ_INT(insert_json(t, c, j, &e), 0);
    }
    int asc = index_pos(c, "a_1"), desc = index_pos(c, "a_-1");
    CHECK(asc > 0 && desc > 0);
    struct key_range r[3];
    char out[256];
    range_int(&r[0], 2, 4, false, false, false);
    range_int(&r[1], 7, 9, true, true, false);
    range_int(&r[2], 15, 30, false, false, false);
    index_scan(t, c, asc, r, 3, "a", out, sizeof out);
    CHECK_EQ_STR(out, "2,3,4,8,15,16,17,18,19");
    range_free(r, 3);

    /* On {a: -1}, ascending key order is descending a. */
    range_int(&r[0], 12, 14, false, true, true);
    range_int(&r[1], 3, 5, true, false, true);
    index_scan(t, c, desc, r, 2, "a", out, sizeof out);
    CHECK_EQ_STR(out, "13,12,5,4");
    range_free(r, 2);

    /* The _id_ index of an ordinary collection ranges over record keys. */
    range_int(&r[0], 105, 107, false, true, false);
    index_scan(t, c, 0, r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "105,106");
    range_free(r, 1);
    index_scan(t, c, 0, r, 0, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(index_scan_resumes_after_a_position)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "ir", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "ir");
    for (int i = 0; i < 10; i++) {
        char j[64];
        snprintf(j, sizeof j, "{\"_id\": %d, \"a\": %d}", i, i % 3);
        CHECK_EQ_INT(insert_json(t, c, j, &e), 0);
    }
    struct key_range r[2];
    range_int(&r[0], 0, 0, false, false, false);
    range_int(&r[1], 2, 2, false, false, false);
    struct store_iter *it;
    bson_t doc;
    CHECK_EQ_INT(store_iter_open_index(t, c, 1, r, 2, NULL, &it, &e), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(store_iter_next(it, &doc, &e), 1);
    struct keybuf pos;
    keybuf_init(&pos);
    keybuf_append(&pos, store_iter_position(it)->data, store_iter_position(it)->len);
    store_iter_close(it);
    CHECK_EQ_INT(store_iter_open_index(t, c, 1, r, 2, &pos, &it, &e), 0);
    char out[256];
    scan_collect(it, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "9,2,5,8");
    store_iter_close(it);
    range_free(r, 2);
    keybuf_destroy(&pos);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(index_specs_are_validated_and_conflicts_reported)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "ix", NULL);
    struct err e;
    err_init(&e);
    bool is_created = true;
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": \"text\"}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK(strstr(e.msg, "not supported yet") != NULL);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": \"hashed\"}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 0}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": true}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"name\": \"x\"}", NULL, &e), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"partialFilterExpression\": {\"a\": 1}}", NULL, &e),
                 -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"collation\": {\"locale\": \"fr\"}}", NULL, &e),
                 -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"bogus\": 1}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);

    CHECK_EQ_INT(create_index(t, c, "{\"v\": 2, \"key\": {\"a\": 1}, \"name\": \"a_1\", \"background\": true, "
                                    "\"expireAfterSeconds\": 60}",
                              &is_created, &e),
                 0);
    CHECK(is_created);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"expireAfterSeconds\": 60}",
                              &is_created, &e),
                 0);
    CHECK(!is_created);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"b\": 1}, \"name\": \"a_1\"}", &is_created, &e),
                 -ERR_INDEX_KEY_SPECS_CONFLICT);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"other\"}", &is_created, &e),
                 -ERR_INDEX_OPTIONS_CONFLICT);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}, \"name\": \"a_1\", \"unique\": true}", &is_created, &e),
                 -ERR_INDEX_OPTIONS_CONFLICT);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"_id\": 1}, \"name\": \"_id_\"}", &is_created, &e), 0);
    CHECK(!is_created);

    struct coll_info *c2 = find_coll(t, "db", "ix");
    CHECK_EQ_INT(c2->n_indexes, 2);
    bson_iter_t it;
    CHECK(bson_iter_init_find(&it, &c2->indexes[1].spec, "expireAfterSeconds"));
    CHECK(!bson_iter_init_find(&it, &c2->indexes[1].spec, "background"));
    CHECK(bson_iter_init_find(&it, &c2->indexes[1].spec, "v") && bson_iter_as_int64(&it) == 2);

    CHECK_EQ_INT(store_index_drop(t, c2, "_id_", &e), -ERR_INVALID_OPTIONS);
    CHECK_EQ_INT(store_index_drop(t, c2, "nope", &e), -ERR_INDEX_NOT_FOUND);
    CHECK_EQ_INT(store_index_drop(t, c2, "a_1", &e), 0);
    coll_info_destroy(c2);
    c2 = find_coll(t, "db", "ix");
    CHECK_EQ_INT(c2->n_indexes, 1);
    coll_info_destroy(c2);

    /* At most 64 indexes, _id_ included. */
    int rc = 0;
    for (int i = 0; i < 63 && rc == 0; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "{\"key\": {\"f%d\": 1}}", i);
        rc = create_index(t, c, spec, NULL, &e);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"g\": 1}}", NULL, &e), -ERR_CANNOT_CREATE_INDEX);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

TEST(update_moves_index_entries_from_old_to_new_values)
{
    struct store *s = open_ok();
    struct store_txn *t = wtxn(s);
    struct coll_info *c = create_coll(t, "db", "up", NULL);
    struct err e;
    err_init(&e);
    CHECK_EQ_INT(create_index(t, c, "{\"key\": {\"a\": 1}}", NULL, &e), 0);
    coll_info_destroy(c);
    c = find_coll(t, "db", "up");
    CHECK_EQ_INT(insert_json(t, c, "{\"_id\": 1, \"a\": [1, 2]}", &e), 0);
    bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
    bson_t doc;
    bool found;
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    bson_t *nd = J("{\"_id\": 1, \"a\": [2, 3]}");
    CHECK_EQ_INT(store_doc_update(t, c, &doc, nd, &e), 0);
    bson_destroy(nd);
    struct key_range r;
    range_all(&r);
    char out[64];
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1,1");
    range_free(&r, 1);
    range_int(&r, 1, 1, false, false, false);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "");
    range_free(&r, 1);
    range_int(&r, 3, 3, false, false, false);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "1");
    range_free(&r, 1);
    CHECK_EQ_INT(store_doc_get(t, c, &id, &doc, &found, &e), 0);
    CHECK_EQ_INT(store_doc_delete(t, c, &doc, &e), 0);
    range_all(&r);
    index_scan(t, c, 1, &r, 1, "_id", out, sizeof out);
    CHECK_EQ_STR(out, "");
    range_free(&r, 1);
    CHECK_EQ_INT(commit(t), 0);
    coll_info_destroy(c);
    store_close(s);
    err_clear(&e);
}

int main(void)
{
    RUN(unique_index_rejects_duplicates_on_insert_and_update_without_changing_anything);
    RUN(compound_unique_index_reports_every_field);
    RUN(index_build_over_existing_duplicates_fails_and_leaves_no_trace);
    RUN(multikey_index_gets_one_key_per_element_and_persists_the_flag);
    RUN(dotted_paths_through_arrays_of_documents_are_indexed);
    RUN(parallel_arrays_in_a_compound_index_are_rejected);
    RUN(sparse_index_skips_documents_missing_every_indexed_field);
    RUN(empty_array_is_indexed_once);
    RUN(index_scans_walk_several_ranges_with_exclusive_bounds_and_descending_keys);
    RUN(index_scan_resumes_after_a_position);
    RUN(index_specs_are_validated_and_conflicts_reported);
    RUN(update_moves_index_entries_from_old_to_new_values);
    return test_report();
}
