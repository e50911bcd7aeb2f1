/* wire_client.c - the client half of OP_MSG: encode a command, decode its reply.
 *
 * Used by net/peer.c, which sends commands to other members. Pure: no I/O, no
 * global state. Guarantees: a request always carries its command name first
 * and a string $db; a decoded reply is the answer to the request named by
 * responseTo, lies within [msg, msg+len), and every document in it passed the
 * structural BSON check (bson_check.c). Rules follow the OP_MSG spec
 * (mongodb/specifications source/message/OP_MSG.md). */
#include "wire/wire.h"

#include "core/mem.h"
#include "wire/wire_bytes.h"

#include <string.h>

/* Reply documents wrap stored ones ({cursor: {nextBatch: [{o: doc}]}}), so
 * they may legitimately nest a few levels deeper than a request body. */
#define REPLY_MAX_DEPTH (WIRE_MAX_DEPTH + 16)
#define MAX_REPLY_SEQUENCES 16

void wire_set_request_id(uint8_t *msg, int32_t request_id)
{
    wire_put_i32(msg + 4, request_id);
}

int wire_encode_request(int32_t request_id, const bson_t *cmd, uint8_t **out, size_t *len_out, struct err *e)
{
    bson_iter_t it;
    size_t total;
    uint8_t *buf;

    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it))
        return err_set(e, ERR_FAILED_TO_PARSE, "Cannot send an empty command");
    if (!bson_iter_init_find(&it, cmd, "$db") || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(e, ERR_FAILED_TO_PARSE, "Command '%s' needs a string $db field to be sent",
                       bson_iter_init(&it, cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "");
    if (cmd->len > WIRE_MAX_COMMAND_BYTES)
        return err_set(e, ERR_BSON_OBJECT_TOO_LARGE,
                       "BSONObj size: %u (0x%x) is invalid. Size must be between 0 and 16793600(16MB)",
                       (unsigned)cmd->len, (unsigned)cmd->len);
    /* header, flagBits, section kind byte, body */
    total = WIRE_HEADER_LEN + 4 + 1 + cmd->len;
    buf = xmalloc(total);
    wire_put_i32(buf, (int32_t)total);
    wire_put_i32(buf + 4, request_id);
    wire_put_i32(buf + 8, 0);
    wire_put_i32(buf + 12, WIRE_OP_MSG);
    wire_put_i32(buf + 16, 0);
    buf[20] = 0;
    memcpy(buf + 21, bson_get_data(cmd), cmd->len);
    *out = buf;
    *len_out = total;
    return 0;
}

/* One document at data[pos..limit): length in bounds and structurally valid. */
static int check_reply_document(const uint8_t *data, size_t pos, size_t limit, size_t *doc_len, struct err *e)
{
    int32_t n;
    int rc;

    if (limit - pos < 5)
        return err_set(e, ERR_INVALID_BSON, "Invalid BSON in reply: truncated document");
    n = wire_get_i32(data + pos);
    if (n < 5 || (size_t)n > limit - pos)
        return err_set(e, ERR_INVALID_BSON, "Invalid BSON in reply: document length %d exceeds the message", n);
    if ((rc = wire_bson_check(data + pos, (size_t)n, REPLY_MAX_DEPTH, e)) < 0) {
        err_prefix(e, "reply");
        return rc;
    }
    *doc_len = (size_t)n;
    return 0;
}

struct reply_sequence {
    const char *id; /* NUL-terminated inside the message */
    const uint8_t *docs;
    size_t docs_len;
};

/* Parses one kind-1 section starting at msg[*pos] (after the kind byte). */
static int parse_sequence(const uint8_t *msg, size_t *pos, size_t end, struct reply_sequence *s, struct err *e)
{
    size_t p = *pos, sec_end, id_len, doc_len;
    const uint8_t *nul;
    int32_t size;
    int rc;

    if (end - p < 4)
        return err_set(e, ERR_PROTOCOL_ERROR, "Truncated document sequence in reply");
    size = wire_get_i32(msg + p);
    if (size < 5 || (size_t)size > end - p)
        return err_set(e, ERR_PROTOCOL_ERROR, "Document sequence size %d exceeds the reply", size);
    sec_end = p + (size_t)size;
    nul = memchr(msg + p + 4, 0, sec_end - p - 4);
    if (nul == NULL)
        return err_set(e, ERR_PROTOCOL_ERROR, "Unterminated document sequence identifier in reply");
    id_len = (size_t)(nul - (msg + p + 4));
    if (id_len == 0)
        return err_set(e, ERR_PROTOCOL_ERROR, "Empty document sequence identifier in reply");
    s->id = (const char *)msg + p + 4;
    p += 4 + id_len + 1;
    s->docs = msg + p;
    s->docs_len = sec_end - p;
    while (p < sec_end) {
        if ((rc = check_reply_document(msg, p, sec_end, &doc_len, e)) < 0)
            return rc;
        p += doc_len;
    }
    *pos = sec_end;
    return 0;
}

static void append_reply_sequence(bson_t *body, const struct reply_sequence *s)
{
    bson_t arr, doc;
    char key[16];
    const char *k;
    size_t pos = 0;
    uint32_t i = 0;

    bson_append_array_begin(body, s->id, -1, &arr);
    while (pos < s->docs_len) {
        int32_t n = wire_get_i32(s->docs + pos);
        bson_uint32_to_string(i++, &k, key, sizeof key);
        bson_init_static(&doc, s->docs + pos, (size_t)n);
        bson_append_document(&arr, k, -1, &doc);
        pos += (size_t)n;
    }
    bson_append_array_end(body, &arr);
}

/* Header checks: length, opcode, responseTo. */
static int check_reply_header(const uint8_t *msg, size_t len, int32_t response_to, struct err *e)
{
    int32_t opcode, got_to;

    if (len < WIRE_HEADER_LEN || (size_t)wire_get_i32(msg) != len)
        return err_set(e, ERR_PROTOCOL_ERROR, "Reply length does not match its header");
    if (len > WIRE_MAX_MESSAGE_BYTES)
        return err_set(e, ERR_PROTOCOL_ERROR, "Reply of %zu bytes exceeds the %d-byte message limit", len,
                       WIRE_MAX_MESSAGE_BYTES);
    opcode = wire_get_i32(msg + 12);
    if (opcode == WIRE_OP_COMPRESSED)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_COMPRESSED reply received but compression was never negotiated");
    if (opcode != WIRE_OP_MSG)
        return err_set(e, ERR_PROTOCOL_ERROR, "Reply has opcode %d, expected OP_MSG (%d)", opcode, WIRE_OP_MSG);
    got_to = wire_get_i32(msg + 8);
    if (got_to != response_to)
        return err_set(e, ERR_PROTOCOL_ERROR, "Reply is to request %d, expected a reply to request %d", got_to,
                       response_to);
    return 0;
}

int wire_decode_reply(const uint8_t *msg, size_t len, int32_t response_to, bson_t *reply, struct err *e)
{
    struct reply_sequence seqs[MAX_REPLY_SEQUENCES];
    const uint8_t *body_doc = NULL;
    size_t body_len = 0, pos = 20, end, doc_len;
    int n_seqs = 0, rc;
    uint32_t flags;
    bson_iter_t it;
    bson_t body;

    if ((rc = check_reply_header(msg, len, response_to, e)) < 0)
        return rc;
    if (len < 21)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG reply too short");
    end = len;
    flags = (uint32_t)wire_get_i32(msg + 16);
    if (flags & WIRE_MSG_CHECKSUM_PRESENT) {
        if (len < 25)
            return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG reply too short for its checksum");
        end = len - 4;
        if (wire_crc32c(msg, end) != (uint32_t)wire_get_i32(msg + end))
            return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG reply checksum does not match contents");
    }
    /* moreToCome on a reply means exhaust mode, which we never request. */
    if (flags & WIRE_MSG_MORE_TO_COME)
        return err_set(e, ERR_PROTOCOL_ERROR, "Reply has moreToCome set, but exhaust was never requested");
    /* Bits 0-15 are required: one we do not know must be rejected (OP_MSG spec). */
    if (flags & 0xFFFCu)
        return err_set(e, ERR_PROTOCOL_ERROR, "Unrecognized required flag bit in OP_MSG reply flags: 0x%x",
                       (unsigned)(flags & 0xFFFFu));
    while (pos < end) {
        uint8_t kind = msg[pos++];
        if (kind == 0) {
            if (body_doc)
                return err_set(e, ERR_PROTOCOL_ERROR, "Multiple body sections in reply");
            if ((rc = check_reply_document(msg, pos, end, &doc_len, e)) < 0)
                return rc;
            body_doc = msg + pos;
            body_len = doc_len;
            pos += doc_len;
        } else if (kind == 1) {
            if (n_seqs == MAX_REPLY_SEQUENCES)
                return err_set(e, ERR_PROTOCOL_ERROR, "Too many document sequences in reply");
            if ((rc = parse_sequence(msg, &pos, end, &seqs[n_seqs], e)) < 0)
                return rc;
            for (int i = 0; i < n_seqs; i++)
                if (strcmp(seqs[i].id, seqs[n_seqs].id) == 0)
                    return err_set(e, ERR_PROTOCOL_ERROR, "Duplicate document sequence in reply: %s", seqs[i].id);
            n_seqs++;
        } else {
            return err_set(e, ERR_PROTOCOL_ERROR, "Unknown section kind %u in reply", kind);
        }
    }
    if (body_doc == NULL)
        return err_set(e, ERR_PROTOCOL_ERROR, "OP_MSG reply has no body section");
    bson_init_static(&body, body_doc, body_len);
    for (int i = 0; i < n_seqs; i++)
        if (bson_iter_init_find(&it, &body, seqs[i].id))
            return err_set(e, ERR_PROTOCOL_ERROR, "Field %s is in both the reply body and a document sequence",
                           seqs[i].id);
    bson_init(reply);
    bson_concat(reply, &body);
    for (int i = 0; i < n_seqs; i++)
        append_reply_sequence(reply, &seqs[i]);
    return 0;
}
