/* wire.h - MongoDB message framing: decode one complete request, encode replies.
 *
 * A connection reads a 16-byte header, checks messageLength with
 * wire_check_length, reads the rest, and hands the whole message to
 * wire_decode. The decoder never trusts a length: every section and embedded
 * document must fit exactly, nesting is bounded, and the result is an owned
 * command request (cmd.h) or a verdict saying how to answer the peer.
 * Replies are OP_MSG (flags 0, or moreToCome within a hello exhaust stream;
 * one kind-0 section, no checksum) for OP_MSG requests and OP_REPLY
 * (responseFlags 8) for OP_QUERY ones. No I/O here. */
#ifndef TALLY_WIRE_H
#define TALLY_WIRE_H

#include "cmd/cmd.h"
#include "core/err.h"

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HEADER_LEN 16
#define WIRE_MAX_MESSAGE_BYTES 48000000
#define WIRE_MAX_BSON_BYTES 16777216
/* A command may exceed the document limit by this much (mongod's overhead). */
#define WIRE_MAX_COMMAND_BYTES (WIRE_MAX_BSON_BYTES + 16 * 1024)
/* Embedded documents below the root deeper than this are rejected. */
#define WIRE_MAX_DEPTH 100

#define WIRE_OP_REPLY 1
#define WIRE_OP_QUERY 2004
#define WIRE_OP_COMPRESSED 2012
#define WIRE_OP_MSG 2013

#define WIRE_MSG_CHECKSUM_PRESENT (1u << 0)
#define WIRE_MSG_MORE_TO_COME (1u << 1)
#define WIRE_MSG_EXHAUST_ALLOWED (1u << 16)

#define WIRE_QUERY_SECONDARY_OK 4
#define WIRE_REPLY_QUERY_FAILURE 2
#define WIRE_REPLY_AWAIT_CAPABLE 8

/* What the connection does with a message once decoded. */
enum wire_status {
    WIRE_DISPATCH,      /* req is filled: run it */
    WIRE_REPLY_ERROR,   /* answer e as a command error ({ok: 0, ...}) and keep reading */
    WIRE_QUERY_FAILURE, /* legacy OP_QUERY find: OP_REPLY with QueryFailure and {$err, code} */
    WIRE_CLOSE,         /* protocol violation: log e->msg and close the connection */
};

/* CRC-32C (Castagnoli), init and final xor 0xFFFFFFFF, as OP_MSG checksums use. */
uint32_t wire_crc32c(const uint8_t *data, size_t len);

/* Checks a BSON document's structure without recursion: every element type,
 * string/binary/cstring bound, nested length and terminator, at most
 * max_depth embedded levels. Returns 0 or -ERR_INVALID_BSON / -ERR_OVERFLOW
 * with e describing the first problem. */
int wire_bson_check(const uint8_t *data, size_t len, int max_depth, struct err *e);

/* messageLength from a 16-byte header; 0 when outside 16..48,000,000. */
uint32_t wire_check_length(const uint8_t header[WIRE_HEADER_LEN]);

/* Decodes the complete message msg[0..len) (len == its messageLength).
 * Always sets req->request_id, req->is_op_query and req->is_more_to_come as
 * far as the header and flags could be read. On WIRE_DISPATCH req->body,
 * name and db are set (req owns body; wire_request_clear releases it); on
 * any other status req->body is empty and e says why. req is caller-allocated
 * (fields it does not know, such as connection_id, are left alone). */
enum wire_status wire_decode(const uint8_t *msg, size_t len, struct cmd_request *req, struct err *e);

/* Releases what wire_decode put in req (safe on an undecoded or zeroed req). */
void wire_request_clear(struct cmd_request *req);

/* Encodes reply as the answer to req (OP_MSG or OP_REPLY). A reply larger
 * than WIRE_MAX_COMMAND_BYTES is replaced by a BSONObjectTooLarge error.
 * *out is owned (free()), *len_out its size. */
void wire_encode_reply(const struct cmd_request *req, const bson_t *reply, uint8_t **out, size_t *len_out);
/* Same, as one reply of an exhaust stream: OP_MSG with moreToCome set (the
 * client sends nothing more and reads the next reply, whose responseTo is
 * *request_id_out, this message's requestID). An oversized reply becomes the
 * error without moreToCome. OP_REPLY (OP_QUERY requests) never streams. */
void wire_encode_streamed_reply(const struct cmd_request *req, const bson_t *reply, uint8_t **out, size_t *len_out,
                                int32_t *request_id_out);
/* OP_REPLY with the QueryFailure flag and {$err: e->msg, code: e->code}. */
void wire_encode_query_failure(int32_t response_to, const struct err *e, uint8_t **out, size_t *len_out);

/* --- Client side (wire_client.c): what a member sends to another member. ---
 * Pure encoding and decoding, no I/O; net/peer.c does the sockets. */

/* Encodes cmd as an OP_MSG request: flags 0, one kind-0 section, no checksum,
 * requestID request_id, responseTo 0. cmd is borrowed and must name its
 * database in a string "$db" field (the server requires it). Returns 0 with
 * *out owned (free()) and *len_out its size, or -ERR_FAILED_TO_PARSE (no
 * command name or no string $db) / -ERR_BSON_OBJECT_TOO_LARGE (cmd larger
 * than WIRE_MAX_COMMAND_BYTES) with e filled and *out untouched. */
int wire_encode_request(int32_t request_id, const bson_t *cmd, uint8_t **out, size_t *len_out, struct err *e);

/* Stores request_id in an already encoded message (bytes 4..8 of its header). */
void wire_set_request_id(uint8_t *msg, int32_t request_id);

/* Decodes the complete OP_MSG reply msg[0..len) (len == its messageLength)
 * to the request whose id was response_to. Checks the header length, opcode,
 * responseTo, flag bits (no moreToCome: we never allow exhaust), the CRC-32C
 * checksum when flagged, and every section; kind-1 sequences are merged into
 * the body as arrays, as a request decoder would. On success *reply is
 * initialised and owned by the caller (bson_destroy); on failure it is left
 * uninitialised and the return is -ERR_PROTOCOL_ERROR or -ERR_INVALID_BSON. */
int wire_decode_reply(const uint8_t *msg, size_t len, int32_t response_to, bson_t *reply, struct err *e);

#endif
