/* message.c - OP_MSG and OP_QUERY decoding, OP_MSG and OP_REPLY encoding.
 *
 * Sits between the connection (net/conn.c), which hands over one complete
 * message, and the dispatcher (cmd/dispatch.c), which receives an owned
 * struct cmd_request. Guarantees: no read outside [msg, msg+len); every
 * embedded document is structurally valid (bson_check.c) with a length that
 * fits its section exactly; OP_MSG kind-1 sequences are merged into the body
 * as arrays; the body always carries $db, so req->db borrows from it. Rules
 * follow the OP_MSG spec (mongodb/specifications source/message/OP_MSG.md). */
#include "wire/wire.h"

#include "core/mem.h"
#include "wire/wire_bytes.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_SECTIONS 64

static atomic_int_fast32_t next_reply_id = 1;

uint32_t wire_check_length(const uint8_t header[WIRE_HEADER_LEN])
{
    int32_t n = wire_get_i32(header);

    if (n < WIRE_HEADER_LEN || n > WIRE_MAX_MESSAGE_BYTES)
        return 0;
    return (uint32_t)n;
}

void wire_request_clear(struct cmd_request *req)
{
    bson_destroy(&req->body);
    bson_init(&req->body);
    req->name = NULL;
    req->db = NULL;
}

/* A document at data[pos..limit): its declared length must fit and be valid. */
static int check_document(const uint8_t *data, size_t pos, size_t limit, size_t *doc_len, struct err *e)
{
    int32_t n;
    int rc;

    if (limit - pos < 5)
        return err_set(e, ERR_INVALID_BSON, "Invalid BSON: truncated document in message");
    n = wire_get_i32(data + pos);
    if (n < 5 || (size_t)n > limit - pos)
        return err_set(e, ERR_INVALID_BSON, "Invalid BSON: document length %d exceeds the message", n);
    if (n > WIRE_MAX_COMMAND_BYTES)
        return err_set(e, ERR_BSON_OBJECT_TOO_LARGE, "BSONObj size: %d (0x%x) is invalid. Size must be between 0 and "
                       "16793600(16MB)", n, (unsigned)n);
    if ((rc = wire_bson_check(data + pos, (size_t)n, WIRE_MAX_DEPTH, e)) < 0)
        return rc;
    *doc_len = (size_t)n;
    return 0;
}

/* Sets req->name and req->db from the finished body; both borrow from it. */
static int finish_body(struct cmd_request *req, struct err *e)
{
    bson_iter_t it;

    if (!bson_iter_init(&it, &req->body) || !bson_iter_next(&it))
        return err_set(e, ERR_FAILED_TO_PARSE, "Empty command body");
    req->name = bson_iter_key(&it);
    if (!bson_iter_init_find(&it, &req->body, "$db"))
        return err_set(e, ERR_OP_MSG_WITHOUT_DB, "OP_MSG requests require a $db argument");
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return err_set(e, ERR_TYPE_MISMATCH, "BSON field '$db' is the wrong type '%s', expected type 'string'",
                       "non-string");
    req->db = bson_iter_utf8(&it, NULL);
    return 0;
}

struct sequence {
    const char *id;    /* identifier, points into the message */
    const uint8_t *docs;
    size_t docs_len;   /* bytes of back-to-back documents */
};

/* Appends a kind-1 sequence to body as an array named after its identifier. */
static void append_sequence(bson_t *body, const struct sequence *s)
{
    bson_t arr;
    char key[16];
    const char *k;
    size_t pos = 0;
    uint32_t i = 0;

    bson_append_array_begin(body, s->id, -1, &arr);
    while (pos < s->docs_len) {
        bson_t doc;
        int32_t n = wire_get_i32(s->docs + pos);
        bson_uint32_to_string(i++, &k, key, sizeof key);
        bson_init_static(&doc, s->docs + pos, (size_t)n);
        bson_append_document(&arr, k, -1, &doc);
        pos += (size_t)n;
    }
    bson_append_array_end(body, &arr);
}

static enum wire_status decode_op_msg(const uint8_t *msg, size_t len, struct cmd_request *req, struct err *e)
{
    struct sequence seqs[MAX_SECTIONS];
    const uint8_t *body_doc = NULL;
    size_t body_len = 0, pos = 20, end = len;
    int n_seqs = 0, rc;
    uint32_t flags;
    bson_t body0;
    bson_iter_t it;

    if (len < 21)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG too short"), WIRE_CLOSE;
    flags = (uint32_t)wire_get_i32(msg + 16);
    req->is_more_to_come = (flags & WIRE_MSG_MORE_TO_COME) != 0;
    req->is_exhaust_allowed = (flags & WIRE_MSG_EXHAUST_ALLOWED) != 0;
    if (flags & WIRE_MSG_CHECKSUM_PRESENT) {
        if (len < 25)
            return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG too short for its checksum"), WIRE_CLOSE;
        end = len - 4;
        if (wire_crc32c(msg, end) != (uint32_t)wire_get_i32(msg + end))
            return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG checksum does not match contents"), WIRE_CLOSE;
    }
    /* Bits 0-15 are required: one we do not know must be rejected (OP_MSG spec). */
    if (flags & 0xFFFCu)
        return err_set(e, ERR_ILLEGAL_OP_MSG_FLAG, "Unrecognized required flag bit in OP_MSG flags: 0x%x",
                       (unsigned)(flags & 0xFFFFu)), WIRE_REPLY_ERROR;
    while (pos < end) {
        uint8_t kind = msg[pos++];
        size_t doc_len;
        if (kind == 0) {
            if (body_doc)
                return err_set(e, ERR_FAILED_TO_PARSE, "Multiple body sections in message"), WIRE_REPLY_ERROR;
            if ((rc = check_document(msg, pos, end, &doc_len, e)) < 0)
                return WIRE_REPLY_ERROR;
            body_doc = msg + pos;
            body_len = doc_len;
            pos += doc_len;
        } else if (kind == 1) {
            int32_t size;
            size_t sec_end, id_len;
            const uint8_t *nul;
            if (end - pos < 4)
                return err_set(e, ERR_INVALID_BSON, "Truncated document sequence"), WIRE_REPLY_ERROR;
            size = wire_get_i32(msg + pos);
            if (size < 5 || (size_t)size > end - pos)
                return err_set(e, ERR_INVALID_BSON, "Document sequence size %d exceeds the message", size),
                       WIRE_REPLY_ERROR;
            sec_end = pos + (size_t)size;
            nul = memchr(msg + pos + 4, 0, sec_end - pos - 4);
            if (nul == NULL)
                return err_set(e, ERR_INVALID_BSON, "Unterminated document sequence identifier"), WIRE_REPLY_ERROR;
            id_len = (size_t)(nul - (msg + pos + 4));
            if (id_len == 0)
                return err_set(e, ERR_FAILED_TO_PARSE, "Empty document sequence identifier"), WIRE_REPLY_ERROR;
            if (n_seqs == MAX_SECTIONS)
                return err_set(e, ERR_FAILED_TO_PARSE, "Too many document sequences"), WIRE_REPLY_ERROR;
            seqs[n_seqs].id = (const char *)msg + pos + 4;
            for (int i = 0; i < n_seqs; i++)
                if (strcmp(seqs[i].id, seqs[n_seqs].id) == 0)
                    return err_set(e, ERR_FAILED_TO_PARSE, "Duplicate document sequence: %s", seqs[i].id),
                           WIRE_REPLY_ERROR;
            pos += 4 + id_len + 1;
            seqs[n_seqs].docs = msg + pos;
            seqs[n_seqs].docs_len = sec_end - pos;
            while (pos < sec_end) {
                if ((rc = check_document(msg, pos, sec_end, &doc_len, e)) < 0)
                    return WIRE_REPLY_ERROR;
                pos += doc_len;
            }
            n_seqs++;
        } else {
            return err_set(e, ERR_PROTOCOL_ERROR, "Unknown section kind %u", kind), WIRE_CLOSE;
        }
    }
    if (body_doc == NULL)
        return err_set(e, ERR_FAILED_TO_PARSE, "OP_MSG requires a body section"), WIRE_REPLY_ERROR;
    bson_init_static(&body0, body_doc, body_len);
    for (int i = 0; i < n_seqs; i++)
        if (bson_iter_init_find(&it, &body0, seqs[i].id))
            return err_set(e, ERR_FAILED_TO_PARSE, "Duplicate field %s in both the body and a document sequence",
                           seqs[i].id), WIRE_REPLY_ERROR;
    bson_destroy(&req->body);
    if (n_seqs == 0) {
        bson_init_static(&body0, body_doc, body_len);
        bson_copy_to(&body0, &req->body);
    } else {
        bson_init(&req->body);
        bson_concat(&req->body, &body0);
        for (int i = 0; i < n_seqs; i++)
            append_sequence(&req->body, &seqs[i]);
    }
    if (finish_body(req, e) < 0) {
        wire_request_clear(req);
        return WIRE_REPLY_ERROR;
    }
    return WIRE_DISPATCH;
}

/* Builds the body of an OP_QUERY command: unwraps {$query: ...} (keeping
 * $readPreference) and adds $db from the namespace. */
static int build_query_body(const bson_t *query, const char *db, size_t db_len, struct cmd_request *req,
                            struct err *e)
{
    bson_iter_t it;
    bson_t inner;
    const bson_t *cmd = query;
    const uint8_t *data;
    uint32_t n;

    /* Only a wrapped query starts with $query (or query): {count: "c", query: ...} is a command. */
    if (bson_iter_init(&it, query) && bson_iter_next(&it) &&
        (strcmp(bson_iter_key(&it), "$query") == 0 || strcmp(bson_iter_key(&it), "query") == 0)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            return err_set(e, ERR_FAILED_TO_PARSE, "$query must be an object");
        bson_iter_document(&it, &n, &data);
        if (!bson_init_static(&inner, data, n))
            return err_set(e, ERR_INVALID_BSON, "Invalid BSON in $query");
        cmd = &inner;
    }
    bson_destroy(&req->body);
    bson_init(&req->body);
    bson_concat(&req->body, cmd);
    if (cmd != query && bson_iter_init_find(&it, query, "$readPreference") &&
        !bson_has_field(&req->body, "$readPreference"))
        bson_append_iter(&req->body, "$readPreference", -1, &it);
    if (!bson_has_field(&req->body, "$db"))
        bson_append_utf8(&req->body, "$db", 3, db, (int)db_len);
    return finish_body(req, e);
}

static enum wire_status decode_op_query(const uint8_t *msg, size_t len, struct cmd_request *req, struct err *e)
{
    size_t pos = 20, doc_len, ns_len;
    const uint8_t *nul;
    const char *ns, *dot;
    int32_t flags;
    bson_t query;

    req->is_op_query = true;
    if (len < 20 + 1 + 8 + 5)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_QUERY too short"), WIRE_CLOSE;
    flags = wire_get_i32(msg + 16);
    req->is_secondary_ok = (flags & WIRE_QUERY_SECONDARY_OK) != 0;
    nul = memchr(msg + pos, 0, len - pos);
    if (nul == NULL)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_QUERY namespace is not terminated"), WIRE_CLOSE;
    ns = (const char *)msg + pos;
    ns_len = (size_t)(nul - (msg + pos));
    pos += ns_len + 1;
    /* numberToSkip and numberToReturn: meaningless for commands. */
    if (len - pos < 8 + 5)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_QUERY too short"), WIRE_CLOSE;
    pos += 8;
    if (check_document(msg, pos, len, &doc_len, e) < 0)
        return WIRE_REPLY_ERROR;
    pos += doc_len;
    /* An optional returnFieldsSelector may follow; it must be valid too. */
    if (pos < len) {
        size_t sel_len;
        if (check_document(msg, pos, len, &sel_len, e) < 0)
            return WIRE_REPLY_ERROR;
        if (pos + sel_len != len)
            return err_set(e, ERR_INVALID_BSON, "Trailing bytes after OP_QUERY"), WIRE_REPLY_ERROR;
    }
    dot = memchr(ns, '.', ns_len);
    if (dot == NULL || dot == ns || strcmp(dot + 1, "$cmd") != 0) {
        /* Legacy find on a collection: mongod 5.1+ refuses it with QueryFailure. */
        return err_set(e, ERR_UNSUPPORTED_FORMAT,
                       "OP_QUERY is no longer supported. The client driver may require an upgrade. For more "
                       "details see https://dochub.mongodb.org/core/legacy-opcode-removal"),
               WIRE_QUERY_FAILURE;
    }
    bson_init_static(&query, msg + pos - doc_len, doc_len);
    if (build_query_body(&query, ns, (size_t)(dot - ns), req, e) < 0) {
        wire_request_clear(req);
        return WIRE_REPLY_ERROR;
    }
    return WIRE_DISPATCH;
}

enum wire_status wire_decode(const uint8_t *msg, size_t len, struct cmd_request *req, struct err *e)
{
    int32_t opcode;

    req->is_op_query = false;
    req->is_more_to_come = false;
    req->is_exhaust_allowed = false;
    req->is_secondary_ok = false;
    req->name = NULL;
    req->db = NULL;
    if (len < WIRE_HEADER_LEN || (size_t)wire_get_i32(msg) != len) {
        req->request_id = len >= 8 ? wire_get_i32(msg + 4) : 0;
        return err_set(e, ERR_PROTOCOL_ERROR, "Message length does not match its header"), WIRE_CLOSE;
    }
    req->request_id = wire_get_i32(msg + 4);
    opcode = wire_get_i32(msg + 12);
    switch (opcode) {
    case WIRE_OP_MSG: return decode_op_msg(msg, len, req, e);
    case WIRE_OP_QUERY: return decode_op_query(msg, len, req, e);
    case WIRE_OP_COMPRESSED:
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_COMPRESSED received but compression was never negotiated"),
               WIRE_CLOSE;
    default:
        return err_set(e, ERR_PROTOCOL_ERROR, "Unsupported opcode %d (legacy opcodes were removed in MongoDB 5.1)",
                       opcode), WIRE_CLOSE;
    }
}

static uint8_t *frame(size_t body_len, int32_t response_to, int32_t opcode, size_t *len_out, int32_t *id_out)
{
    size_t total = WIRE_HEADER_LEN + body_len;
    uint8_t *buf = xmalloc(total);
    int32_t id = (int32_t)atomic_fetch_add(&next_reply_id, 1);

    wire_put_i32(buf, (int32_t)total);
    wire_put_i32(buf + 4, id);
    wire_put_i32(buf + 8, response_to);
    wire_put_i32(buf + 12, opcode);
    *len_out = total;
    if (id_out)
        *id_out = id;
    return buf;
}

/* reply_flags: OP_REPLY responseFlags; msg_flags: OP_MSG flagBits. */
static void encode_doc(bool is_op_query, int32_t response_to, int32_t reply_flags, uint32_t msg_flags,
                       const bson_t *doc, uint8_t **out, size_t *len_out, int32_t *id_out)
{
    uint8_t *buf;

    if (is_op_query) {
        buf = frame(20 + doc->len, response_to, WIRE_OP_REPLY, len_out, id_out);
        wire_put_i32(buf + 16, reply_flags);
        memset(buf + 20, 0, 12); /* cursorID 0, startingFrom 0 */
        wire_put_i32(buf + 32, 1);  /* numberReturned */
        memcpy(buf + 36, bson_get_data(doc), doc->len);
    } else {
        buf = frame(5 + doc->len, response_to, WIRE_OP_MSG, len_out, id_out);
        wire_put_i32(buf + 16, (int32_t)msg_flags);
        buf[20] = 0;
        memcpy(buf + 21, bson_get_data(doc), doc->len);
    }
    *out = buf;
}

static void encode_reply(const struct cmd_request *req, const bson_t *reply, uint32_t msg_flags, uint8_t **out,
                         size_t *len_out, int32_t *id_out)
{
    if (reply->len > WIRE_MAX_COMMAND_BYTES) {
        struct err e;
        bson_t err_reply = BSON_INITIALIZER;
        err_init(&e);
        err_set(&e, ERR_BSON_OBJECT_TOO_LARGE, "BSONObj size: %u (0x%x) is invalid. Size must be between 0 and "
                "16793600(16MB)", reply->len, reply->len);
        err_append_reply(&e, &err_reply);
        /* An error ends a stream: never moreToCome on ok: 0. */
        encode_doc(req->is_op_query, req->request_id, WIRE_REPLY_AWAIT_CAPABLE, 0, &err_reply, out, len_out,
                   id_out);
        bson_destroy(&err_reply);
        err_clear(&e);
        return;
    }
    encode_doc(req->is_op_query, req->request_id, WIRE_REPLY_AWAIT_CAPABLE, msg_flags, reply, out, len_out, id_out);
}

void wire_encode_reply(const struct cmd_request *req, const bson_t *reply, uint8_t **out, size_t *len_out)
{
    encode_reply(req, reply, 0, out, len_out, NULL);
}

void wire_encode_streamed_reply(const struct cmd_request *req, const bson_t *reply, uint8_t **out, size_t *len_out,
                                int32_t *request_id_out)
{
    encode_reply(req, reply, req->is_op_query ? 0 : WIRE_MSG_MORE_TO_COME, out, len_out, request_id_out);
}

void wire_encode_query_failure(int32_t response_to, const struct err *e, uint8_t **out, size_t *len_out)
{
    bson_t doc = BSON_INITIALIZER;

    bson_append_utf8(&doc, "$err", 4, e->msg, -1);
    bson_append_int32(&doc, "code", 4, e->code);
    encode_doc(true, response_to, WIRE_REPLY_QUERY_FAILURE | WIRE_REPLY_AWAIT_CAPABLE, 0, &doc, out, len_out, NULL);
    bson_destroy(&doc);
}
