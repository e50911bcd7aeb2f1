/* fuzz_query.c - libFuzzer target for the query layer: filters, updates,
 * projections and sort keys over arbitrary BSON.
 *
 * The input is a run of BSON documents, each validated before use:
 * [doc] [filter] [update] [projection] [sort] [arrayFilters]. Missing ones
 * are empty documents. Every parser must reject bad input with an error,
 * never crash or leak; updates are also run as upserts and on their own
 * output, and every top-level value of the update document is tried as an
 * update on its own (which covers pipelines and non-document specs). */
#include "core/err.h"
#include "query/keyenc.h"
#include "query/match.h"
#include "query/project.h"
#include "query/sort.h"
#include "query/update.h"

#include <bson/bson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define N_DOCS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits data into up to N_DOCS validated documents; the rest stay empty. */
static void split_docs(const uint8_t *data, size_t size, bson_t *docs)
{
    size_t off = 0;
    for (int i = 0; i < N_DOCS; i++) {
        bson_init(&docs[i]);
        if (size - off < 5)
            continue;
        int32_t len;
        memcpy(&len, data + off, sizeof len);
        len = (int32_t)BSON_UINT32_FROM_LE((uint32_t)len);
        if (len < 5 || (size_t)len > size - off)
            continue;
        bson_t b;
        if (bson_init_static(&b, data + off, (size_t)len) && bson_validate(&b, BSON_VALIDATE_NONE, NULL)) {
            bson_destroy(&docs[i]);
            bson_copy_to(&b, &docs[i]);
        }
        off += (size_t)len;
    }
}

static void fuzz_update(const bson_value_t *spec, const bson_t *array_filters, const bson_t *doc,
                        const bson_t *filter, int pos)
{
    struct err e;
    err_init(&e);
    struct update *u = NULL;
    if (update_create(spec, array_filters, &u, &e) == 0) {
        struct update_env env = {pos, false, 1700000000000};
        bson_t out = BSON_INITIALIZER;
        bool changed = false;
        if (update_apply(u, doc, &env, &out, &changed, &e) == 0 && bson_validate(&out, BSON_VALIDATE_NONE, NULL)) {
            bson_t again = BSON_INITIALIZER;
            err_clear(&e);
            (void)update_apply(u, &out, &env, &again, &changed, &e);
            bson_destroy(&again);
        }
        bson_destroy(&out);
        err_clear(&e);
        bson_t ins = BSON_INITIALIZER;
        (void)update_build_upsert(u, filter, &env, &ins, &e);
        bson_destroy(&ins);
        update_destroy(u);
    }
    err_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bson_t docs[N_DOCS];
    split_docs(data, size, docs);
    const bson_t *doc = &docs[0], *filter = &docs[1], *update = &docs[2], *proj = &docs[3], *sort = &docs[4],
                 *array_filters = &docs[5];
    struct err e;
    err_init(&e);

    int pos = -1;
    struct matcher *m = NULL;
    if (matcher_create(filter, &m, &e) == 0) {
        (void)matcher_match(m, doc);
        (void)matcher_match_positional(m, doc, &pos);
        struct match_bound bounds[4];
        (void)matcher_bounds_for_path(m, "a", bounds, 4);
        bson_value_t id;
        (void)matcher_is_id_point(m, &id);
        matcher_destroy(m);
    }
    err_clear(&e);

    bson_value_t spec = {.value_type = BSON_TYPE_DOCUMENT};
    spec.value.v_doc.data = (uint8_t *)bson_get_data(update);
    spec.value.v_doc.data_len = update->len;
    fuzz_update(&spec, bson_empty(array_filters) ? NULL : array_filters, doc, filter, pos);
    bson_iter_t it;
    if (bson_iter_init(&it, update)) {
        for (int n = 0; n < 4 && bson_iter_next(&it); n++)
            fuzz_update(bson_iter_value(&it), NULL, doc, filter, pos);
    }

    struct projection *p = NULL;
    if (projection_create(proj, &p, &e) == 0) {
        bson_t out = BSON_INITIALIZER;
        err_clear(&e);
        (void)projection_apply(p, doc, pos, &out, &e);
        bson_destroy(&out);
        projection_destroy(p);
    }
    err_clear(&e);

    struct sort_spec *s = NULL;
    if (sort_spec_create(sort, &s, &e) == 0) {
        struct keybuf kb;
        keybuf_init(&kb);
        sort_key_append(s, doc, &kb);
        keybuf_destroy(&kb);
        sort_spec_destroy(s);
    }
    err_clear(&e);

    for (int i = 0; i < N_DOCS; i++)
        bson_destroy(&docs[i]);
    return 0;
}
