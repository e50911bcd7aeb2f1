/* fuzz_wire.c - libFuzzer target for the message decoder and reply encoder.
 *
 * Feeds arbitrary bytes through the path a connection takes on a complete
 * message: the header length check, wire_decode, and for a decoded command
 * the reply encoder over its body (a realistic large document). The header's
 * messageLength is forced to the input size so the decoder sees framed input,
 * as the connection guarantees. */
#include "core/err.h"
#include "wire/wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every element the way handlers do; false when libbson stops early
 * on corrupt data, which wire_decode must have ruled out. */
static bool walk(bson_iter_t *it, int depth)
{
    while (bson_iter_next(it)) {
        bson_iter_t child;
        if ((BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) &&
            (!bson_iter_recurse(it, &child) || depth > WIRE_MAX_DEPTH + 2 || !walk(&child, depth + 1)))
            return false;
    }
    return it->err_off == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmd_request req;
    struct err e;
    uint8_t *msg, *out;
    size_t out_len;

    if (size < WIRE_HEADER_LEN)
        return 0;
    msg = malloc(size);
    memcpy(msg, data, size);
    msg[0] = (uint8_t)size;
    msg[1] = (uint8_t)(size >> 8);
    msg[2] = (uint8_t)(size >> 16);
    msg[3] = (uint8_t)(size >> 24);
    (void)wire_check_length(msg);
    memset(&req, 0, sizeof req);
    bson_init(&req.body);
    err_init(&e);
    switch (wire_decode(msg, size, &req, &e)) {
    case WIRE_DISPATCH: {
        /* Everything a handler may do: iterate the whole body. */
        bson_iter_t it;
        if (!bson_iter_init(&it, &req.body) || !walk(&it, 0) || req.name == NULL || req.db == NULL)
            abort();
        wire_encode_reply(&req, &req.body, &out, &out_len);
        free(out);
        break;
    }
    case WIRE_QUERY_FAILURE:
        wire_encode_query_failure(req.request_id, &e, &out, &out_len);
        free(out);
        break;
    case WIRE_REPLY_ERROR: {
        bson_t reply = BSON_INITIALIZER;
        err_append_reply(&e, &reply);
        wire_encode_reply(&req, &reply, &out, &out_len);
        free(out);
        bson_destroy(&reply);
        break;
    }
    case WIRE_CLOSE: break;
    }
    wire_request_clear(&req);
    bson_destroy(&req.body);
    err_clear(&e);
    free(msg);
    return 0;
}
