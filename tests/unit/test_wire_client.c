/* test_wire_client.c - the client half of OP_MSG (wire_client.c): requests
 * encode to what the server's decoder accepts, replies the server's encoder
 * writes decode back, and every malformed reply is rejected without a crash. */
#include "testhelp.h"

#include "core/mem.h"
#include "wire/wire.h"

#include <bson/bson.h>

struct rbuf {
    uint8_t data[8192];
    size_t len;
};

static void put_i32(struct rbuf *m, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        m->data[m->len++] = (uint8_t)(u >> (8 * i));
}

static void set_i32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

static int32_t get_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void put_bytes(struct rbuf *m, const void *p, size_t n)
{
    memcpy(m->data + m->len, p, n);
    m->len += n;
}

static void put_doc(struct rbuf *m, const bson_t *b) { put_bytes(m, bson_get_data(b), b->len); }

/* Header of a reply to request response_to, then flags. */
static void start_reply(struct rbuf *m, int32_t opcode, int32_t response_to, uint32_t flags)
{
    m->len = 0;
    put_i32(m, 0);
    put_i32(m, 99);
    put_i32(m, response_to);
    put_i32(m, opcode);
    put_i32(m, (int32_t)flags);
}

static void put_body(struct rbuf *m, const bson_t *b)
{
    m->data[m->len++] = 0;
    put_doc(m, b);
}

/* A kind-1 section with identifier id and n documents. */
static void put_sequence(struct rbuf *m, const char *id, const bson_t *const *docs, int n)
{
    size_t start;

    m->data[m->len++] = 1;
    start = m->len;
    put_i32(m, 0);
    put_bytes(m, id, strlen(id) + 1);
    for (int i = 0; i < n; i++)
        put_doc(m, docs[i]);
    set_i32(m->data + start, (int32_t)(m->len - start));
}

static void end_reply(struct rbuf *m) { set_i32(m->data, (int32_t)m->len); }

static void end_reply_with_checksum(struct rbuf *m)
{
    set_i32(m->data, (int32_t)(m->len + 4));
    put_i32(m, (int32_t)wire_crc32c(m->data, m->len));
}

static void ok_reply(struct rbuf *m, int32_t response_to, uint32_t flags)
{
    bson_t *b = BCON_NEW("ok", BCON_DOUBLE(1.0), "n", BCON_INT32(3));
    start_reply(m, WIRE_OP_MSG, response_to, flags);
    put_body(m, b);
    end_reply(m);
    bson_destroy(b);
}

/* Decodes m as a reply to response_to; returns the code (0 or negative). */
static int decode(const struct rbuf *m, int32_t response_to, struct err *e)
{
    bson_t reply;
    int rc = wire_decode_reply(m->data, m->len, response_to, &reply, e);
    if (rc == 0)
        bson_destroy(&reply);
    return rc;
}

TEST(an_encoded_request_is_an_op_msg_the_server_decoder_accepts)
{
    bson_t *cmd = BCON_NEW("find", BCON_UTF8("oplog.rs"), "filter", "{", "}", "$db", BCON_UTF8("local"));
    struct cmd_request req;
    struct err e;
    uint8_t *msg = NULL;
    size_t len = 0;

    err_init(&e);
    CHECK_EQ_INT(wire_encode_request(1234, cmd, &msg, &len, &e), 0);
    CHECK_EQ_INT(len, WIRE_HEADER_LEN + 4 + 1 + cmd->len);
    CHECK_EQ_INT(get_i32(msg), (int32_t)len);
    CHECK_EQ_INT(get_i32(msg + 4), 1234);
    CHECK_EQ_INT(get_i32(msg + 8), 0);
    CHECK_EQ_INT(get_i32(msg + 12), WIRE_OP_MSG);
    CHECK_EQ_INT(get_i32(msg + 16), 0);
    CHECK_EQ_INT(msg[20], 0);
    CHECK(memcmp(msg + 21, bson_get_data(cmd), cmd->len) == 0);
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    CHECK_EQ_INT(wire_decode(msg, len, &req, &e), WIRE_DISPATCH);
    CHECK_EQ_INT(req.request_id, 1234);
    CHECK_EQ_STR(req.name, "find");
    CHECK_EQ_STR(req.db, "local");
    CHECK(bson_equal(&req.body, cmd));
    wire_request_clear(&req);
    bson_destroy(&req.body);
    free(msg);
    bson_destroy(cmd);
    err_clear(&e);
}

TEST(set_request_id_rewrites_only_the_request_id)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin"));
    uint8_t *msg = NULL, *copy;
    size_t len = 0;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(wire_encode_request(0, cmd, &msg, &len, &e), 0);
    copy = xmalloc(len);
    memcpy(copy, msg, len);
    wire_set_request_id(msg, 0x7ffffffe);
    CHECK_EQ_INT(get_i32(msg + 4), 0x7ffffffe);
    CHECK(memcmp(msg, copy, 4) == 0);
    CHECK(memcmp(msg + 8, copy + 8, len - 8) == 0);
    free(copy);
    free(msg);
    bson_destroy(cmd);
    err_clear(&e);
}

TEST(a_command_without_a_string_db_is_not_encoded)
{
    bson_t *no_db = BCON_NEW("ping", BCON_INT32(1));
    bson_t *int_db = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_INT32(1));
    bson_t empty = BSON_INITIALIZER;
    uint8_t *msg = NULL;
    size_t len = 0;
    struct err e;

    err_init(&e);
    CHECK_EQ_INT(wire_encode_request(1, no_db, &msg, &len, &e), -ERR_FAILED_TO_PARSE);
    CHECK(strstr(e.msg, "ping") != NULL);
    CHECK(strstr(e.msg, "$db") != NULL);
    CHECK_EQ_INT(wire_encode_request(1, int_db, &msg, &len, &e), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(wire_encode_request(1, &empty, &msg, &len, &e), -ERR_FAILED_TO_PARSE);
    CHECK(msg == NULL);
    CHECK_EQ_INT(len, 0);
    bson_destroy(no_db);
    bson_destroy(int_db);
    err_clear(&e);
}

TEST(a_command_over_the_size_limit_is_not_encoded)
{
    bson_t cmd = BSON_INITIALIZER;
    size_t n = WIRE_MAX_COMMAND_BYTES;
    char *big = xmalloc(n + 1);
    uint8_t *msg = NULL;
    size_t len = 0;
    struct err e;

    err_init(&e);
    memset(big, 'x', n);
    big[n] = '\0';
    BSON_APPEND_INT32(&cmd, "insert", 1);
    BSON_APPEND_UTF8(&cmd, "$db", "test");
    BSON_APPEND_UTF8(&cmd, "pad", big);
    CHECK_EQ_INT(wire_encode_request(1, &cmd, &msg, &len, &e), -ERR_BSON_OBJECT_TOO_LARGE);
    CHECK(msg == NULL);
    free(big);
    bson_destroy(&cmd);
    err_clear(&e);
}

TEST(a_reply_from_the_server_encoder_decodes_to_the_same_document)
{
    bson_t *doc = BCON_NEW("cursor", "{", "nextBatch", "[", "{", "a", BCON_INT32(1), "}", "]", "id", BCON_INT64(77),
                           "ns", BCON_UTF8("local.oplog.rs"), "}", "ok", BCON_DOUBLE(1.0));
    struct cmd_request req;
    uint8_t *msg = NULL;
    size_t len = 0;
    bson_t reply;
    struct err e;

    err_init(&e);
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    req.request_id = 4242;
    wire_encode_reply(&req, doc, &msg, &len);
    CHECK_EQ_INT(wire_decode_reply(msg, len, 4242, &reply, &e), 0);
    CHECK(bson_equal(&reply, doc));
    bson_destroy(&reply);
    free(msg);
    bson_destroy(&req.body);
    bson_destroy(doc);
    err_clear(&e);
}

TEST(a_reply_to_another_request_is_rejected)
{
    struct rbuf m;
    struct err e;

    err_init(&e);
    ok_reply(&m, 5, 0);
    CHECK_EQ_INT(decode(&m, 5, &e), 0);
    CHECK_EQ_INT(decode(&m, 6, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "request 5") != NULL);
    CHECK(strstr(e.msg, "request 6") != NULL);
    err_clear(&e);
}

TEST(a_reply_with_another_opcode_is_rejected)
{
    struct rbuf m;
    struct err e;

    err_init(&e);
    ok_reply(&m, 1, 0);
    set_i32(m.data + 12, WIRE_OP_REPLY);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "opcode 1") != NULL);
    set_i32(m.data + 12, WIRE_OP_COMPRESSED);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "OP_COMPRESSED") != NULL);
    err_clear(&e);
}

TEST(a_reply_whose_length_disagrees_with_its_header_is_rejected)
{
    struct rbuf m;
    struct err e;

    err_init(&e);
    ok_reply(&m, 1, 0);
    set_i32(m.data, (int32_t)m.len + 1);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    set_i32(m.data, (int32_t)m.len - 1);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    CHECK_EQ_INT(wire_decode_reply(m.data, 10, 1, NULL, &e), -ERR_PROTOCOL_ERROR);
    err_clear(&e);
}

TEST(every_truncation_of_a_reply_is_rejected)
{
    struct rbuf m;
    struct err e;
    int n_rejected = 0;

    err_init(&e);
    ok_reply(&m, 3, 0);
    for (size_t cut = 0; cut < m.len; cut++) {
        struct rbuf t = m;
        t.len = cut;
        if (cut >= 4)
            set_i32(t.data, (int32_t)cut);
        if (decode(&t, 3, &e) < 0)
            n_rejected++;
    }
    CHECK_EQ_INT(n_rejected, (int)m.len);
    err_clear(&e);
}

TEST(a_checksum_is_verified_when_flagged)
{
    bson_t *b = BCON_NEW("ok", BCON_DOUBLE(1.0));
    struct rbuf m;
    struct err e;

    err_init(&e);
    start_reply(&m, WIRE_OP_MSG, 8, WIRE_MSG_CHECKSUM_PRESENT);
    put_body(&m, b);
    end_reply_with_checksum(&m);
    CHECK_EQ_INT(decode(&m, 8, &e), 0);
    m.data[m.len - 1] ^= 0x55;
    CHECK_EQ_INT(decode(&m, 8, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "checksum") != NULL);
    bson_destroy(b);
    err_clear(&e);
}

TEST(more_to_come_and_unknown_required_flags_are_rejected_optional_ones_ignored)
{
    struct rbuf m;
    struct err e;

    err_init(&e);
    ok_reply(&m, 1, WIRE_MSG_MORE_TO_COME);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "moreToCome") != NULL);
    ok_reply(&m, 1, 1u << 5);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    ok_reply(&m, 1, WIRE_MSG_EXHAUST_ALLOWED | (1u << 20));
    CHECK_EQ_INT(decode(&m, 1, &e), 0);
    err_clear(&e);
}

TEST(document_sequences_in_a_reply_are_merged_as_arrays)
{
    bson_t *body = BCON_NEW("ok", BCON_DOUBLE(1.0));
    bson_t *d0 = BCON_NEW("x", BCON_INT32(1)), *d1 = BCON_NEW("x", BCON_INT32(2));
    const bson_t *docs[] = {d0, d1};
    bson_t reply;
    bson_iter_t it, arr;
    struct rbuf m;
    struct err e;

    err_init(&e);
    start_reply(&m, WIRE_OP_MSG, 2, 0);
    put_sequence(&m, "batch", docs, 2);
    put_body(&m, body);
    put_sequence(&m, "empty", docs, 0);
    end_reply(&m);
    CHECK_EQ_INT(wire_decode_reply(m.data, m.len, 2, &reply, &e), 0);
    CHECK(bson_iter_init_find(&it, &reply, "ok"));
    CHECK(bson_iter_init_find(&it, &reply, "batch") && BSON_ITER_HOLDS_ARRAY(&it));
    CHECK(bson_iter_recurse(&it, &arr));
    CHECK(bson_iter_next(&arr) && BSON_ITER_HOLDS_DOCUMENT(&arr));
    CHECK(bson_iter_next(&arr));
    CHECK(!bson_iter_next(&arr));
    CHECK(bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "batch.1.x", &arr) &&
          bson_iter_int32(&arr) == 2);
    CHECK(bson_iter_init_find(&it, &reply, "empty") && BSON_ITER_HOLDS_ARRAY(&it));
    bson_destroy(&reply);
    bson_destroy(body);
    bson_destroy(d0);
    bson_destroy(d1);
    err_clear(&e);
}

TEST(malformed_sections_are_rejected)
{
    bson_t *body = BCON_NEW("ok", BCON_DOUBLE(1.0), "batch", BCON_INT32(1));
    bson_t *d0 = BCON_NEW("x", BCON_INT32(1));
    const bson_t *docs[] = {d0};
    struct rbuf m;
    struct err e;

    err_init(&e);
    /* no body */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_sequence(&m, "s", docs, 1);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    CHECK(strstr(e.msg, "no body") != NULL);
    /* two bodies */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, d0);
    put_body(&m, d0);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    /* unknown section kind */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, d0);
    m.data[m.len++] = 2;
    put_doc(&m, d0);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    /* a sequence named like a body field */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, body);
    put_sequence(&m, "batch", docs, 1);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    /* the same sequence twice */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, d0);
    put_sequence(&m, "s", docs, 1);
    put_sequence(&m, "s", docs, 1);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    /* a sequence with an empty identifier */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, d0);
    put_sequence(&m, "", docs, 1);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    /* a sequence whose size runs past the message */
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    put_body(&m, d0);
    put_sequence(&m, "s", docs, 1);
    set_i32(m.data + m.len - d0->len - 6, 1000);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_PROTOCOL_ERROR);
    bson_destroy(body);
    bson_destroy(d0);
    err_clear(&e);
}

TEST(invalid_bson_in_a_reply_is_rejected)
{
    bson_t *b = BCON_NEW("ok", BCON_DOUBLE(1.0), "s", BCON_UTF8("abc"));
    struct rbuf m;
    struct err e;
    size_t body_at;

    err_init(&e);
    start_reply(&m, WIRE_OP_MSG, 1, 0);
    body_at = m.len + 1;
    put_body(&m, b);
    end_reply(&m);
    CHECK_EQ_INT(decode(&m, 1, &e), 0);
    /* a document length that exceeds the message */
    set_i32(m.data + body_at, (int32_t)b->len + 1);
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_INVALID_BSON);
    set_i32(m.data + body_at, (int32_t)b->len);
    /* an unknown element type */
    m.data[body_at + 4] = 0x77;
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_INVALID_BSON);
    m.data[body_at + 4] = 0x01;
    /* a missing terminator */
    m.data[m.len - 1] = 1;
    CHECK_EQ_INT(decode(&m, 1, &e), -ERR_INVALID_BSON);
    bson_destroy(b);
    err_clear(&e);
}

/* Walks every element, recursing into documents and arrays; false when
 * libbson finds the structure corrupt anywhere (key encoding is not checked:
 * mongod does not check it either). */
static bool walks_cleanly(const bson_t *b, int depth)
{
    bson_iter_t it;

    if (depth > 200 || !bson_iter_init(&it, b))
        return false;
    while (bson_iter_next(&it)) {
        if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
            const uint8_t *data;
            uint32_t n;
            bson_t sub;
            if (BSON_ITER_HOLDS_DOCUMENT(&it))
                bson_iter_document(&it, &n, &data);
            else
                bson_iter_array(&it, &n, &data);
            if (!bson_init_static(&sub, data, n) || !walks_cleanly(&sub, depth + 1))
                return false;
        }
    }
    return it.err_off == 0;
}

TEST(random_corruption_of_a_reply_never_crashes_and_checks_every_result)
{
    bson_t *doc = BCON_NEW("cursor", "{", "nextBatch", "[", "{", "a", BCON_UTF8("xyz"), "}", "]", "}", "ok",
                           BCON_DOUBLE(1.0));
    struct rbuf m, t;
    struct err e;
    unsigned seed = 12345;
    int n_ok = 0;

    err_init(&e);
    start_reply(&m, WIRE_OP_MSG, 9, 0);
    put_body(&m, doc);
    end_reply(&m);
    for (int round = 0; round < 20000; round++) {
        bson_t reply;
        int rc;
        t = m;
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            t.data[(seed >> 8) % t.len] = (uint8_t)(seed >> 20);
        }
        rc = wire_decode_reply(t.data, t.len, 9, &reply, &e);
        if (rc == 0) {
            /* Whatever was accepted must be a well-formed document. */
            CHECK(walks_cleanly(&reply, 0));
            bson_destroy(&reply);
            n_ok++;
        } else {
            CHECK(rc == -ERR_PROTOCOL_ERROR || rc == -ERR_INVALID_BSON || rc == -ERR_OVERFLOW);
            CHECK(e.msg[0] != '\0');
        }
    }
    CHECK(n_ok < 20000);
    bson_destroy(doc);
    err_clear(&e);
}

int main(void)
{
    RUN(an_encoded_request_is_an_op_msg_the_server_decoder_accepts);
    RUN(set_request_id_rewrites_only_the_request_id);
    RUN(a_command_without_a_string_db_is_not_encoded);
    RUN(a_command_over_the_size_limit_is_not_encoded);
    RUN(a_reply_from_the_server_encoder_decodes_to_the_same_document);
    RUN(a_reply_to_another_request_is_rejected);
    RUN(a_reply_with_another_opcode_is_rejected);
    RUN(a_reply_whose_length_disagrees_with_its_header_is_rejected);
    RUN(every_truncation_of_a_reply_is_rejected);
    RUN(a_checksum_is_verified_when_flagged);
    RUN(more_to_come_and_unknown_required_flags_are_rejected_optional_ones_ignored);
    RUN(document_sequences_in_a_reply_are_merged_as_arrays);
    RUN(malformed_sections_are_rejected);
    RUN(invalid_bson_in_a_reply_is_rejected);
    RUN(random_corruption_of_a_reply_never_crashes_and_checks_every_result);
    return test_report();
}
