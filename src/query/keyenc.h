/* keyenc.h - order-preserving binary encoding of BSON values.
 *
 * memcmp() order of encoded keys equals bsonval_compare() order of the values,
 * so LMDB's default byte comparison sorts documents and index entries the way
 * MongoDB does (numbers by value across int32/int64/double). The encoding is
 * prefix-free: keys for compound indexes are concatenations of components.
 * A descending component is the bitwise complement of its ascending form. */
#ifndef TALLY_KEYENC_H
#define TALLY_KEYENC_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keybuf {
    uint8_t *data; /* owned */
    size_t len;
    size_t cap;
};

void keybuf_init(struct keybuf *kb);
void keybuf_destroy(struct keybuf *kb);
void keybuf_reset(struct keybuf *kb);
void keybuf_append(struct keybuf *kb, const void *bytes, size_t n);
void keybuf_append_u64_be(struct keybuf *kb, uint64_t v);

/* Appends the encoding of v (borrowed). */
void keyenc_append_value(struct keybuf *kb, const bson_value_t *v, bool is_descending);
/* Appends the encoding of a missing field (sorts as null, below every non-null). */
void keyenc_append_missing(struct keybuf *kb, bool is_descending);
/* Smallest and largest possible encodings of any value (MinKey..MaxKey bounds). */
void keyenc_append_min(struct keybuf *kb, bool is_descending);
void keyenc_append_max(struct keybuf *kb, bool is_descending);
/* Decodes one ascending component at *pos back into a value appended to `out`
 * under `key`; advances *pos. Returns false on malformed input. */
bool keyenc_decode_append(const uint8_t *data, size_t len, size_t *pos, bson_t *out, const char *key);

#endif
