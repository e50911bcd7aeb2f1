/* sort.h - sort specifications ({a: 1, b: -1}) as memcmp-able sort keys.
 *
 * A document's sort key is the concatenation of keyenc encodings of each
 * sort field (descending fields complemented). For arrays, an ascending field
 * sorts by its smallest element and a descending one by its largest, as
 * MongoDB does; missing sorts as null. */
#ifndef TALLY_SORT_H
#define TALLY_SORT_H

#include "core/err.h"
#include "query/keyenc.h"

#include <bson/bson.h>

struct sort_spec;

/* spec borrowed. {$natural: 1|-1} is accepted: sort_spec_natural() then
 * returns 1 or -1 and no key is computed. Errors: values other than 1/-1
 * (BadValue), {$meta: ...} is NotImplemented. */
int sort_spec_create(const bson_t *spec, struct sort_spec **out, struct err *e);
void sort_spec_destroy(struct sort_spec *s);
/* 0 when the spec is not $natural, else its direction. */
int sort_spec_natural(const struct sort_spec *s);
/* Number of fields, and their paths/directions (for matching an index). */
int sort_spec_n_fields(const struct sort_spec *s);
const char *sort_spec_field(const struct sort_spec *s, int i, int *direction);
/* Appends the sort key of doc to kb. */
void sort_key_append(const struct sort_spec *s, const bson_t *doc, struct keybuf *kb);

#endif
