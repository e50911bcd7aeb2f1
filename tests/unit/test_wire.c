/* test_wire.c - message framing: OP_MSG and OP_QUERY decoding, reply
 * encoding, CRC-32C and the structural BSON check. */
#include "testhelp.h"

#include "core/mem.h"
#include "wire/wire.h"

#include <bson/bson.h>

struct msgbuf {
    uint8_t data[4096];
    size_t len;
};

static void put_i32(struct msgbuf *m, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        m->data[m->len++] = (uint8_t)(u >> (8 * i));
}

static void put_bytes(struct msgbuf *m, const void *p, size_t n)
{
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

static void put_doc(struct msgbuf *m, const bson_t *b) { put_bytes(m, bson_get_data(b), b->len); }

static void set_i32(struct msgbuf *m, size_t at, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        m->data[at + (size_t)i] = (uint8_t)(u >> (8 * i));
}

static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void start_msg(struct msgbuf *m, int32_t opcode, int32_t request_id)
{
    m->len = 0;
    put_i32(m, 0);
    put_i32(m, request_id);
    put_i32(m, 0);
    put_i32(m, opcode);
}

static void end_msg(struct msgbuf *m) { set_i32(m, 0, (int32_t)m->len); }

/* An OP_MSG with one kind-0 body and the given flags. */
static void op_msg(struct msgbuf *m, uint32_t flags, const bson_t *body)
{
    start_msg(m, WIRE_OP_MSG, 7);
    put_i32(m, (int32_t)flags);
    m->data[m->len++] = 0;
    put_doc(m, body);
    end_msg(m);
}

/* Kind-1 section holding docs under identifier id. */
static void put_sequence(struct msgbuf *m, const char *id, const bson_t **docs, int n)
{
    size_t start = m->len;
    m->data[m->len++] = 1;
    put_i32(m, 0);
    put_bytes(m, id, strlen(id) + 1);
    for (int i = 0; i < n; i++)
        put_doc(m, docs[i]);
    set_i32(m, start + 1, (int32_t)(m->len - start - 1));
}

static enum wire_status decode(struct msgbuf *m, struct cmd_request *req, struct err *e)
{
    memset(req, 0, sizeof *req);
    bson_init(&req->body);
    err_init(e);
    return wire_decode(m->data, m->len, req, e);
}

static void done(struct cmd_request *req, struct err *e)
{
    wire_request_clear(req);
    bson_destroy(&req->body);
    err_clear(e);
}

TEST(crc32c_matches_the_castagnoli_check_value)
{
    CHECK_EQ_INT(wire_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(wire_crc32c((const uint8_t *)"", 0), 0);
}

TEST(message_length_outside_16_to_48MB_is_refused)
{
    uint8_t h[16] = {0};
    h[0] = 16;
    CHECK_EQ_INT(wire_check_length(h), 16);
    h[0] = 15;
    CHECK_EQ_INT(wire_check_length(h), 0);
    memcpy(h, &(int32_t){48000000}, 4);
    CHECK_EQ_INT(wire_check_length(h), 48000000);
    memcpy(h, &(int32_t){48000001}, 4);
    CHECK_EQ_INT(wire_check_length(h), 0);
    memcpy(h, &(int32_t){-5}, 4);
    CHECK_EQ_INT(wire_check_length(h), 0);
}

TEST(op_msg_body_gives_name_db_and_request_id)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");

    op_msg(&m, 0, body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "ping");
    CHECK_EQ_STR(req.db, "admin");
    CHECK_EQ_INT(req.request_id, 7);
    CHECK(!req.is_op_query);
    CHECK(!req.is_more_to_come);
    CHECK(bson_equal(&req.body, body));
    done(&req, &e);
    bson_destroy(body);
}

TEST(op_msg_without_db_is_an_error_reply)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1));

    op_msg(&m, 0, body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK(strstr(e.msg, "$db") != NULL);
    done(&req, &e);
    bson_destroy(body);
}

TEST(op_msg_with_empty_body_is_an_error_reply)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t body = BSON_INITIALIZER;

    op_msg(&m, 0, &body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK_EQ_INT(e.code, ERR_FAILED_TO_PARSE);
    done(&req, &e);
}

TEST(kind1_sequences_merge_into_the_body_as_arrays_in_any_order)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("insert", "c", "ordered", BCON_BOOL(true), "$db", "test");
    bson_t *d1 = BCON_NEW("_id", BCON_INT32(1)), *d2 = BCON_NEW("_id", BCON_INT32(2), "x", "y");
    const bson_t *docs[] = {d1, d2};
    bson_iter_t it;

    start_msg(&m, WIRE_OP_MSG, 9);
    put_i32(&m, 0);
    put_sequence(&m, "documents", docs, 2); /* before the body: allowed */
    m.data[m.len++] = 0;
    put_doc(&m, body);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "insert");
    CHECK_EQ_STR(req.db, "test");
    CHECK(bson_iter_init_find(&it, &req.body, "documents") && BSON_ITER_HOLDS_ARRAY(&it));
    CHECK(bson_iter_init(&it, &req.body) && bson_iter_find_descendant(&it, "documents.1.x", &it));
    CHECK(BSON_ITER_HOLDS_UTF8(&it) && strcmp(bson_iter_utf8(&it, NULL), "y") == 0);
    CHECK(bson_iter_init(&it, &req.body) && bson_iter_find_descendant(&it, "documents.0._id", &it));
    CHECK_EQ_INT(bson_iter_int32(&it), 1);
    CHECK_EQ_INT(bson_count_keys(&req.body), 4);
    done(&req, &e);
    bson_destroy(body);
    bson_destroy(d1);
    bson_destroy(d2);
}

TEST(empty_kind1_sequence_becomes_an_empty_array)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("delete", "c", "$db", "test");
    bson_iter_t it, arr;

    op_msg(&m, 0, body);
    put_sequence(&m, "deletes", NULL, 0);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK(bson_iter_init_find(&it, &req.body, "deletes") && BSON_ITER_HOLDS_ARRAY(&it));
    CHECK(bson_iter_recurse(&it, &arr) && !bson_iter_next(&arr));
    done(&req, &e);
    bson_destroy(body);
}

TEST(kind1_identifier_repeating_a_body_field_or_another_sequence_is_refused)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("insert", "c", "documents", "[", "]", "$db", "test");
    bson_t *body2 = BCON_NEW("insert", "c", "$db", "test");
    bson_t *d1 = BCON_NEW("_id", BCON_INT32(1));
    const bson_t *docs[] = {d1};

    op_msg(&m, 0, body);
    put_sequence(&m, "documents", docs, 1);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK(strstr(e.msg, "documents") != NULL);
    done(&req, &e);

    op_msg(&m, 0, body2);
    put_sequence(&m, "documents", docs, 1);
    put_sequence(&m, "documents", docs, 1);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK(strstr(e.msg, "Duplicate document sequence") != NULL);
    done(&req, &e);
    bson_destroy(body);
    bson_destroy(body2);
    bson_destroy(d1);
}

TEST(two_body_sections_or_none_are_refused)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");
    bson_t *d1 = BCON_NEW("_id", BCON_INT32(1));
    const bson_t *docs[] = {d1};

    op_msg(&m, 0, body);
    m.data[m.len++] = 0;
    put_doc(&m, body);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    done(&req, &e);

    start_msg(&m, WIRE_OP_MSG, 1);
    put_i32(&m, 0);
    put_sequence(&m, "documents", docs, 1);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK(strstr(e.msg, "body section") != NULL);
    done(&req, &e);
    bson_destroy(body);
    bson_destroy(d1);
}

TEST(checksum_is_verified_when_flag_bit_0_is_set)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");

    op_msg(&m, WIRE_MSG_CHECKSUM_PRESENT, body);
    put_i32(&m, 0);
    end_msg(&m);
    set_i32(&m, m.len - 4, (int32_t)wire_crc32c(m.data, m.len - 4));
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "ping");
    done(&req, &e);

    m.data[m.len - 1] ^= 0x55;
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_CLOSE);
    CHECK(strstr(e.msg, "checksum") != NULL);
    done(&req, &e);
    bson_destroy(body);
}

TEST(unknown_required_flag_bits_are_refused_and_optional_ones_ignored)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");

    op_msg(&m, 1u << 2, body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK_EQ_INT(e.code, ERR_ILLEGAL_OP_MSG_FLAG);
    done(&req, &e);
    op_msg(&m, 1u << 15, body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    done(&req, &e);
    op_msg(&m, WIRE_MSG_EXHAUST_ALLOWED | (1u << 31), body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    done(&req, &e);
    op_msg(&m, WIRE_MSG_MORE_TO_COME, body);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK(req.is_more_to_come);
    done(&req, &e);
    bson_destroy(body);
}

TEST(lying_document_lengths_are_refused)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");
    size_t doc_at = 21;

    /* Body claims more bytes than the message holds. */
    op_msg(&m, 0, body);
    set_i32(&m, doc_at, (int32_t)body->len + 10);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    CHECK_EQ_INT(e.code, ERR_INVALID_BSON);
    done(&req, &e);
    /* Body claims fewer bytes: the rest is read as a bogus section. */
    op_msg(&m, 0, body);
    set_i32(&m, doc_at, (int32_t)body->len - 4);
    CHECK(decode(&m, &req, &e) != WIRE_DISPATCH);
    done(&req, &e);
    /* Truncated document. */
    op_msg(&m, 0, body);
    m.len -= 3;
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    done(&req, &e);
    /* Header length that does not match the bytes given. */
    op_msg(&m, 0, body);
    set_i32(&m, 0, (int32_t)m.len + 1);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_CLOSE);
    done(&req, &e);
    /* Kind-1 size larger than the message. */
    op_msg(&m, 0, body);
    m.data[m.len++] = 1;
    put_i32(&m, 1000);
    put_bytes(&m, "documents", 10);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_REPLY_ERROR);
    done(&req, &e);
    bson_destroy(body);
}

TEST(unknown_section_kind_closes_the_connection)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", "admin");

    op_msg(&m, 0, body);
    m.data[m.len++] = 2;
    put_doc(&m, body);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_CLOSE);
    done(&req, &e);
    bson_destroy(body);
}

TEST(legacy_and_compressed_opcodes_close_the_connection)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    int32_t ops[] = {2001, 2002, 2005, 2006, 2007, WIRE_OP_COMPRESSED, WIRE_OP_REPLY, 9999};

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        start_msg(&m, ops[i], 1);
        put_i32(&m, 0);
        end_msg(&m);
        CHECK_EQ_INT(decode(&m, &req, &e), WIRE_CLOSE);
        done(&req, &e);
    }
}

static void nested(bson_t *out, int depth)
{
    if (depth == 0) {
        BSON_APPEND_INT32(out, "leaf", 1);
        return;
    }
    bson_t child;
    BSON_APPEND_DOCUMENT_BEGIN(out, "a", &child);
    nested(&child, depth - 1);
    bson_append_document_end(out, &child);
}

TEST(documents_nested_deeper_than_100_levels_are_refused)
{
    struct err e;
    bson_t ok = BSON_INITIALIZER, deep = BSON_INITIALIZER;

    err_init(&e);
    nested(&ok, WIRE_MAX_DEPTH);
    nested(&deep, WIRE_MAX_DEPTH + 1);
    CHECK_EQ_INT(wire_bson_check(bson_get_data(&ok), ok.len, WIRE_MAX_DEPTH, &e), 0);
    CHECK_EQ_INT(wire_bson_check(bson_get_data(&deep), deep.len, WIRE_MAX_DEPTH, &e), -ERR_OVERFLOW);
    CHECK(strstr(e.msg, "nested") != NULL);
    err_clear(&e);
    bson_destroy(&ok);
    bson_destroy(&deep);
}

TEST(bson_check_accepts_every_type_and_refuses_corruption)
{
    struct err e;
    bson_t *b = BCON_NEW("d", BCON_DOUBLE(1.5), "s", "str", "o", "{", "x", BCON_INT64(2), "}", "a", "[",
                         BCON_INT32(1), "]", "bin", BCON_BIN(BSON_SUBTYPE_BINARY, (const uint8_t *)"ab", 2),
                         "u", BCON_UNDEFINED, "oid", BCON_OID(&(bson_oid_t){{0}}), "t", BCON_BOOL(true),
                         "dt", BCON_DATE_TIME(5), "n", BCON_NULL, "re", BCON_REGEX("a.*", "i"), "code",
                         BCON_CODE("x"), "sym", BCON_SYMBOL("y"), "ts", BCON_TIMESTAMP(1, 2), "mn", BCON_MINKEY,
                         "mx", BCON_MAXKEY);
    bson_t scope = BSON_INITIALIZER;
    uint8_t *copy;

    err_init(&e);
    BSON_APPEND_INT32(&scope, "v", 1);
    bson_append_code_with_scope(b, "cws", -1, "f()", &scope);
    CHECK_EQ_INT(wire_bson_check(bson_get_data(b), b->len, WIRE_MAX_DEPTH, &e), 0);
    copy = xmalloc(b->len);
    /* A bool byte of 2. */
    bson_t *bb = BCON_NEW("t", BCON_BOOL(true));
    memcpy(copy, bson_get_data(bb), bb->len);
    copy[bb->len - 2] = 2;
    CHECK_EQ_INT(wire_bson_check(copy, bb->len, WIRE_MAX_DEPTH, &e), -ERR_INVALID_BSON);
    /* Unknown element type. */
    memcpy(copy, bson_get_data(bb), bb->len);
    copy[4] = 0x42;
    CHECK_EQ_INT(wire_bson_check(copy, bb->len, WIRE_MAX_DEPTH, &e), -ERR_INVALID_BSON);
    /* A string whose length runs past the document. */
    bson_t *bs = BCON_NEW("s", "abc");
    memcpy(copy, bson_get_data(bs), bs->len);
    copy[7] = 60;
    CHECK_EQ_INT(wire_bson_check(copy, bs->len, WIRE_MAX_DEPTH, &e), -ERR_INVALID_BSON);
    /* Missing string terminator. */
    memcpy(copy, bson_get_data(bs), bs->len);
    copy[bs->len - 2] = 'x';
    CHECK_EQ_INT(wire_bson_check(copy, bs->len, WIRE_MAX_DEPTH, &e), -ERR_INVALID_BSON);
    /* Outer length not matching the container. */
    CHECK_EQ_INT(wire_bson_check(bson_get_data(bs), bs->len + 1, WIRE_MAX_DEPTH, &e), -ERR_INVALID_BSON);
    free(copy);
    bson_destroy(bs);
    bson_destroy(bb);
    bson_destroy(&scope);
    bson_destroy(b);
    err_clear(&e);
}

static void op_query(struct msgbuf *m, int32_t flags, const char *ns, const bson_t *q)
{
    start_msg(m, WIRE_OP_QUERY, 42);
    put_i32(m, flags);
    put_bytes(m, ns, strlen(ns) + 1);
    put_i32(m, 0);
    put_i32(m, -1);
    put_doc(m, q);
    end_msg(m);
}

TEST(op_query_on_cmd_namespace_is_a_command_with_db_added)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *q = BCON_NEW("ismaster", BCON_INT32(1), "helloOk", BCON_BOOL(true));

    op_query(&m, WIRE_QUERY_SECONDARY_OK, "admin.$cmd", q);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "ismaster");
    CHECK_EQ_STR(req.db, "admin");
    CHECK(req.is_op_query);
    CHECK(req.is_secondary_ok);
    CHECK_EQ_INT(req.request_id, 42);
    done(&req, &e);
    op_query(&m, 0, "mydb.$cmd", q);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.db, "mydb");
    CHECK(!req.is_secondary_ok);
    done(&req, &e);
    bson_destroy(q);
}

TEST(op_query_unwraps_dollar_query_but_not_a_query_field)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *q = BCON_NEW("$query", "{", "hello", BCON_INT32(1), "}", "$readPreference", "{", "mode",
                         "secondaryPreferred", "}");
    bson_t *cnt = BCON_NEW("count", "c", "query", "{", "a", BCON_INT32(1), "}");

    op_query(&m, 0, "admin.$cmd", q);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "hello");
    CHECK(bson_has_field(&req.body, "$readPreference"));
    done(&req, &e);
    op_query(&m, 0, "db.$cmd", cnt);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_STR(req.name, "count");
    CHECK(bson_has_field(&req.body, "query"));
    done(&req, &e);
    bson_destroy(q);
    bson_destroy(cnt);
}

TEST(op_query_on_a_collection_is_a_query_failure)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;
    bson_t *q = BCON_NEW("a", BCON_INT32(1));

    op_query(&m, 0, "test.coll", q);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_QUERY_FAILURE);
    CHECK(strstr(e.msg, "OP_QUERY is no longer supported") != NULL);
    done(&req, &e);
    bson_destroy(q);
}

TEST(op_query_with_unterminated_namespace_closes)
{
    struct msgbuf m;
    struct cmd_request req;
    struct err e;

    start_msg(&m, WIRE_OP_QUERY, 1);
    put_i32(&m, 0);
    put_bytes(&m, "admin.$cmdxxxxxxxxxxxxxxxxxxxx", 30);
    end_msg(&m);
    CHECK_EQ_INT(decode(&m, &req, &e), WIRE_CLOSE);
    done(&req, &e);
}

TEST(op_msg_reply_round_trips)
{
    struct cmd_request req = {0};
    bson_t *reply = BCON_NEW("ok", BCON_DOUBLE(1.0), "n", BCON_INT32(3));
    uint8_t *out;
    size_t len;
    bson_t got;

    req.request_id = 1234;
    wire_encode_reply(&req, reply, &out, &len);
    CHECK_EQ_INT(len, 16 + 4 + 1 + reply->len);
    CHECK_EQ_INT(get_i32(out), (int32_t)len);
    CHECK_EQ_INT(get_i32(out + 8), 1234);
    CHECK_EQ_INT(get_i32(out + 12), WIRE_OP_MSG);
    CHECK_EQ_INT(get_i32(out + 16), 0);
    CHECK_EQ_INT(out[20], 0);
    CHECK(bson_init_static(&got, out + 21, len - 21) && bson_equal(&got, reply));
    free(out);
    bson_destroy(reply);
}

TEST(op_reply_has_await_capable_and_one_document)
{
    struct cmd_request req = {0};
    bson_t *reply = BCON_NEW("ismaster", BCON_BOOL(true), "ok", BCON_DOUBLE(1.0));
    uint8_t *out;
    size_t len;
    bson_t got;

    req.request_id = 99;
    req.is_op_query = true;
    wire_encode_reply(&req, reply, &out, &len);
    CHECK_EQ_INT(get_i32(out + 12), WIRE_OP_REPLY);
    CHECK_EQ_INT(get_i32(out + 8), 99);
    CHECK_EQ_INT(get_i32(out + 16), WIRE_REPLY_AWAIT_CAPABLE);
    CHECK_EQ_INT(get_i32(out + 20), 0);
    CHECK_EQ_INT(get_i32(out + 24), 0);
    CHECK_EQ_INT(get_i32(out + 28), 0);
    CHECK_EQ_INT(get_i32(out + 32), 1);
    CHECK(bson_init_static(&got, out + 36, len - 36) && bson_equal(&got, reply));
    free(out);
    bson_destroy(reply);
}

TEST(reply_ids_differ_between_replies)
{
    struct cmd_request req = {0};
    bson_t *reply = BCON_NEW("ok", BCON_DOUBLE(1.0));
    uint8_t *a, *b;
    size_t la, lb;

    wire_encode_reply(&req, reply, &a, &la);
    wire_encode_reply(&req, reply, &b, &lb);
    CHECK(get_i32(a + 4) != get_i32(b + 4));
    free(a);
    free(b);
    bson_destroy(reply);
}

TEST(too_large_reply_becomes_bson_object_too_large)
{
    struct cmd_request req = {0};
    bson_t big = BSON_INITIALIZER;
    char *s = xmalloc(WIRE_MAX_COMMAND_BYTES + 1);
    uint8_t *out;
    size_t len;
    bson_t got;
    bson_iter_t it;

    memset(s, 'x', WIRE_MAX_COMMAND_BYTES);
    s[WIRE_MAX_COMMAND_BYTES] = '\0';
    BSON_APPEND_UTF8(&big, "s", s);
    wire_encode_reply(&req, &big, &out, &len);
    CHECK(len < 1000);
    CHECK(bson_init_static(&got, out + 21, len - 21));
    CHECK(bson_iter_init_find(&it, &got, "code") && bson_iter_int32(&it) == ERR_BSON_OBJECT_TOO_LARGE);
    CHECK(bson_iter_init_find(&it, &got, "ok") && bson_iter_as_double(&it) == 0.0);
    free(out);
    free(s);
    bson_destroy(&big);
}

TEST(command_over_16MB_plus_16KB_is_refused)
{
    size_t n = WIRE_MAX_COMMAND_BYTES + 100;
    uint8_t *msg = xcalloc(1, n + 64);
    struct cmd_request req;
    struct err e;
    int32_t doc_len = (int32_t)(n - 21);

    /* Header, flags, kind 0, then a document claiming doc_len bytes. */
    memcpy(msg, &(int32_t){(int32_t)n}, 4);
    memcpy(msg + 12, &(int32_t){WIRE_OP_MSG}, 4);
    memcpy(msg + 21, &doc_len, 4);
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    err_init(&e);
    CHECK_EQ_INT(wire_decode(msg, n, &req, &e), WIRE_REPLY_ERROR);
    CHECK_EQ_INT(e.code, ERR_BSON_OBJECT_TOO_LARGE);
    done(&req, &e);
    free(msg);
}

TEST(query_failure_reply_carries_err_and_flag)
{
    struct err e;
    uint8_t *out;
    size_t len;
    bson_t got;
    bson_iter_t it;

    err_init(&e);
    err_set(&e, ERR_UNSUPPORTED_FORMAT, "OP_QUERY is no longer supported");
    wire_encode_query_failure(5, &e, &out, &len);
    CHECK_EQ_INT(get_i32(out + 8), 5);
    CHECK_EQ_INT(get_i32(out + 16), WIRE_REPLY_QUERY_FAILURE | WIRE_REPLY_AWAIT_CAPABLE);
    CHECK(bson_init_static(&got, out + 36, len - 36));
    CHECK(bson_iter_init_find(&it, &got, "$err") && strstr(bson_iter_utf8(&it, NULL), "no longer") != NULL);
    free(out);
    err_clear(&e);
}

int main(void)
{
    RUN(crc32c_matches_the_castagnoli_check_value);
    RUN(message_length_outside_16_to_48MB_is_refused);
    RUN(op_msg_body_gives_name_db_and_request_id);
    RUN(op_msg_without_db_is_an_error_reply);
    RUN(op_msg_with_empty_body_is_an_error_reply);
    RUN(kind1_sequences_merge_into_the_body_as_arrays_in_any_order);
    RUN(empty_kind1_sequence_becomes_an_empty_array);
    RUN(kind1_identifier_repeating_a_body_field_or_another_sequence_is_refused);
    RUN(two_body_sections_or_none_are_refused);
    RUN(checksum_is_verified_when_flag_bit_0_is_set);
    RUN(unknown_required_flag_bits_are_refused_and_optional_ones_ignored);
    RUN(lying_document_lengths_are_refused);
    RUN(unknown_section_kind_closes_the_connection);
    RUN(legacy_and_compressed_opcodes_close_the_connection);
    RUN(documents_nested_deeper_than_100_levels_are_refused);
    RUN(bson_check_accepts_every_type_and_refuses_corruption);
    RUN(op_query_on_cmd_namespace_is_a_command_with_db_added);
    RUN(op_query_unwraps_dollar_query_but_not_a_query_field);
    RUN(op_query_on_a_collection_is_a_query_failure);
    RUN(op_query_with_unterminated_namespace_closes);
    RUN(op_msg_reply_round_trips);
    RUN(op_reply_has_await_capable_and_one_document);
    RUN(reply_ids_differ_between_replies);
    RUN(too_large_reply_becomes_bson_object_too_large);
    RUN(command_over_16MB_plus_16KB_is_refused);
    RUN(query_failure_reply_carries_err_and_flag);
    return test_report();
}
