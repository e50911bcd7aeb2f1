/* sort.c - sort specifications and memcmp-able sort keys.
 *
 * Sits between find/aggregate (which sort by comparing keys with memcmp) and
 * keyenc. Guarantees mongod's order: each field contributes the keyenc of
 * the value it sorts by, complemented when descending. An array field sorts
 * by its smallest element ascending and its largest descending; an empty
 * array sorts below null (mongod treats it as undefined); missing = null. */
#include "query/sort.h"

#include "core/mem.h"
#include "query/bsonval.h"

#include <string.h>

struct sort_field {
    char *path; /* owned */
    int direction;
};

struct sort_spec {
    struct sort_field *fields;
    int n_fields;
    int natural;
};

static int parse_direction(const char *key, const bson_value_t *v, int *dir, struct err *e)
{
    if (v->value_type == BSON_TYPE_DOCUMENT) {
        bson_iter_t it;
        if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) &&
            bson_iter_find(&it, "$meta"))
            return err_set(e, ERR_NOT_IMPLEMENTED, "$meta sort by %s is not supported by this server", key);
        /* mongod code 17312 */
        return err_set(e, ERR_BAD_VALUE, "Illegal key in $sort specification: %s: object", key);
    }
    if (bsonval_is_number(v)) {
        double d = bsonval_as_double(v);
        if (d == 1 || d == -1) {
            *dir = d == 1 ? 1 : -1;
            return 0;
        }
    }
    /* mongod code 15975 */
    return err_set(e, ERR_BAD_VALUE, "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
}

int sort_spec_create(const bson_t *spec, struct sort_spec **out, struct err *e)
{
    struct sort_spec *s = xcalloc(1, sizeof *s);
    bson_iter_t it;
    int rc = 0;
    if (!bson_iter_init(&it, spec)) {
        rc = err_set(e, ERR_BAD_VALUE, "invalid sort specification");
        goto fail;
    }
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        int dir = 1;
        if ((rc = parse_direction(key, bson_iter_value(&it), &dir, e)))
            goto fail;
        if (strcmp(key, "$natural") == 0) {
            s->natural = dir;
            continue;
        }
        if (key[0] == '\0') {
            rc = err_set(e, ERR_BAD_VALUE, "The sort key must not be an empty string");
            goto fail;
        }
        s->fields = xrealloc(s->fields, sizeof *s->fields * (size_t)(s->n_fields + 1));
        s->fields[s->n_fields].path = xstrdup(key);
        s->fields[s->n_fields].direction = dir;
        s->n_fields++;
    }
    *out = s;
    return 0;
fail:
    sort_spec_destroy(s);
    return rc;
}

void sort_spec_destroy(struct sort_spec *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_fields; i++)
        free(s->fields[i].path);
    free(s->fields);
    free(s);
}

int sort_spec_natural(const struct sort_spec *s) { return s->natural; }

int sort_spec_n_fields(const struct sort_spec *s) { return s->n_fields; }

const char *sort_spec_field(const struct sort_spec *s, int i, int *direction)
{
    if (i < 0 || i >= s->n_fields)
        return NULL;
    if (direction)
        *direction = s->fields[i].direction;
    return s->fields[i].path;
}

struct pick {
    int direction;
    bool has_best;
    bson_value_t best;
};

static void consider(struct pick *p, const bson_value_t *v)
{
    if (!p->has_best || (p->direction > 0 ? bsonval_compare(v, &p->best) < 0 : bsonval_compare(v, &p->best) > 0)) {
        p->best = *v;
        p->has_best = true;
    }
}

static bool pick_cb(const bson_value_t *v, int array_index, void *arg)
{
    (void)array_index;
    struct pick *p = arg;
    static const bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
    static const bson_value_t undefined_value = {.value_type = BSON_TYPE_UNDEFINED};
    if (!v) {
        consider(p, &null_value);
        return true;
    }
    if (v->value_type != BSON_TYPE_ARRAY) {
        consider(p, v);
        return true;
    }
    bson_iter_t it;
    bool is_empty = true;
    if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len)) {
        while (bson_iter_next(&it)) {
            consider(p, bson_iter_value(&it));
            is_empty = false;
        }
    }
    if (is_empty)
        consider(p, &undefined_value);
    return true;
}

void sort_key_append(const struct sort_spec *s, const bson_t *doc, struct keybuf *kb)
{
    for (int i = 0; i < s->n_fields; i++) {
        struct pick p = {.direction = s->fields[i].direction};
        bsonval_walk_path_ex(doc, s->fields[i].path, true, pick_cb, &p);
        bool is_descending = s->fields[i].direction < 0;
        if (p.has_best)
            keyenc_append_value(kb, &p.best, is_descending);
        else
            keyenc_append_missing(kb, is_descending);
    }
}
