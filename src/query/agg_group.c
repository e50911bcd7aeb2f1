/* agg_group.c - the $group stage: group keys and accumulators.
 *
 * Groups live in a hash table keyed by the evaluated _id (hash by value, so
 * 1, 1L and 1.0 are one group) and are output in first-seen order.
 * Accumulators: $sum $avg $min $max $first $last $push $addToSet $count
 * $mergeObjects. $sum of integers stays int32, widens to int64 on overflow
 * or int64 input, and to double once a double is seen (drivers'
 * countDocuments reads an integer `n`). Decimal128 inputs are summed apart,
 * exactly, and the other numbers join them at the end, so any decimal input
 * makes $sum/$avg a Decimal128 as in mongod. $min/$max skip null and missing;
 * $push/$addToSet skip missing. Memory is tracked so the pipeline can stop
 * at mongod's 100 MiB limit. */
#include "query/agg_internal.h"

#include "core/mem.h"
#include "query/decimal.h"

#include <stdlib.h>
#include <string.h>

enum acc_kind { ACC_SUM, ACC_AVG, ACC_MIN, ACC_MAX, ACC_FIRST, ACC_LAST, ACC_PUSH, ACC_ADD_TO_SET, ACC_COUNT,
                ACC_MERGE_OBJECTS };

static const struct {
    const char *name;
    enum acc_kind kind;
} acc_names[] = {{"$sum", ACC_SUM},       {"$avg", ACC_AVG},   {"$min", ACC_MIN},
                 {"$max", ACC_MAX},       {"$first", ACC_FIRST}, {"$last", ACC_LAST},
                 {"$push", ACC_PUSH},     {"$addToSet", ACC_ADD_TO_SET}, {"$count", ACC_COUNT},
                 {"$mergeObjects", ACC_MERGE_OBJECTS}};

struct acc_spec {
    char *field;
    enum acc_kind kind;
    bson_value_t expr; /* owned copy */
};

enum sum_kind { SUM_INT32, SUM_INT64, SUM_DOUBLE };

struct acc_state {
    enum sum_kind sum_kind; /* $sum/$avg/$count */
    int64_t i;
    double d;
    bool has_dec;          /* a Decimal128 was summed into dec */
    bson_decimal128_t dec; /* the Decimal128 inputs' exact sum */
    int64_t count;
    bool is_set;      /* $min/$max/$first/$last have a value */
    bson_value_t val; /* owned */
    struct agg_vals items; /* $push/$addToSet (owned values) */
    uint64_t *hashes;      /* $addToSet: hash of each item */
};

struct group_entry {
    bson_value_t id; /* owned */
    uint64_t hash;
    size_t next; /* chain in the bucket, SIZE_MAX ends */
    struct acc_state *acc;
};

struct agg_group {
    bson_value_t id_expr; /* owned */
    bool is_id_object;    /* {_id: {a: ..., b: ...}}: fields evaluated one by one */
    struct acc_spec *accs;
    size_t n_accs;
    struct group_entry *groups;
    size_t n_groups, cap_groups;
    size_t *buckets;
    size_t n_buckets;
    size_t mem_bytes;
};

static size_t value_bytes(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_UTF8: return 32 + v->value.v_utf8.len;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: return 32 + v->value.v_doc.data_len;
    case BSON_TYPE_BINARY: return 32 + v->value.v_binary.data_len;
    default: return 32;
    }
}

static bool is_operator_object(const bson_value_t *v)
{
    bson_iter_t it;
    return v->value_type == BSON_TYPE_DOCUMENT &&
           bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it) &&
           bson_iter_key(&it)[0] == '$';
}

static int parse_acc(struct agg_group *g, const char *field, const bson_value_t *v, struct err *e)
{
    if (strchr(field, '.') != NULL)
        return err_set(e, 40235,
                       "the group aggregate field name '%s' cannot be used because $group's field names cannot "
                       "contain '.'",
                       field);
    if (field[0] == '$')
        return err_set(e, 40236, "The field name '%s' cannot be an operator name", field);
    if (v->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, 40234, "The field '%s' must be an accumulator object", field);
    bson_iter_t it;
    int n = 0;
    const char *op = NULL;
    bson_value_t arg;
    if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
        while (bson_iter_next(&it)) {
            if (n++ == 0) {
                op = bson_iter_key(&it);
                arg = *bson_iter_value(&it);
            }
        }
    if (n != 1)
        return err_set(e, 40238, "The field '%s' must specify one accumulator", field);
    size_t k;
    for (k = 0; k < sizeof acc_names / sizeof acc_names[0]; k++)
        if (strcmp(acc_names[k].name, op) == 0)
            break;
    if (k == sizeof acc_names / sizeof acc_names[0])
        return err_set(e, 15952, "unknown group operator '%s'", op);
    enum acc_kind kind = acc_names[k].kind;
    if (kind == ACC_COUNT) {
        bson_iter_t sub;
        if (arg.value_type != BSON_TYPE_DOCUMENT ||
            (bson_iter_init_from_data(&sub, arg.value.v_doc.data, arg.value.v_doc.data_len) && bson_iter_next(&sub)))
            return err_set(e, ERR_FAILED_TO_PARSE, "$count takes no arguments, i.e. $count: {}");
    } else {
        if (arg.value_type == BSON_TYPE_ARRAY)
            return err_set(e, ERR_FAILED_TO_PARSE, "The %s accumulator is a unary operator", op);
        int rc = agg_expr_check(&arg, e);
        if (rc < 0)
            return rc;
    }
    struct acc_spec *a = &g->accs[g->n_accs++];
    a->field = xstrdup(field);
    a->kind = kind;
    if (kind == ACC_COUNT)
        agg_val_int32(&a->expr, 1);
    else
        bson_value_copy(&arg, &a->expr);
    return 0;
}

int agg_group_create(const bson_value_t *spec, struct agg_group **out, struct err *e)
{
    if (spec->value_type != BSON_TYPE_DOCUMENT)
        return err_set(e, 15947, "a group's fields must be specified in an object");
    struct agg_group *g = xcalloc(1, sizeof *g);
    bson_iter_t it;
    size_t n = 0;
    bool has_id = false;
    int rc = 0;
    agg_val_missing(&g->id_expr);
    if (bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len))
        while (bson_iter_next(&it))
            n++;
    g->accs = xcalloc(n ? n : 1, sizeof *g->accs);
    bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len);
    while (rc == 0 && bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        const bson_value_t *v = bson_iter_value(&it);
        if (strcmp(k, "_id") == 0) {
            if (has_id) {
                rc = err_set(e, ERR_FAILED_TO_PARSE, "duplicate _id field in $group");
                break;
            }
            has_id = true;
            rc = agg_expr_check(v, e);
            if (rc == 0) {
                bson_value_copy(v, &g->id_expr);
                g->is_id_object = v->value_type == BSON_TYPE_DOCUMENT && !is_operator_object(v);
            }
        } else {
            rc = parse_acc(g, k, v, e);
        }
    }
    if (rc == 0 && !has_id)
        rc = err_set(e, 15955, "a group specification must include an _id");
    if (rc < 0) {
        agg_group_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}

static void acc_state_free(struct acc_state *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bson_value_destroy(&s[i].val);
        agg_vals_destroy_owned(&s[i].items);
        free(s[i].hashes);
    }
    free(s);
}

void agg_group_reset(struct agg_group *g)
{
    for (size_t i = 0; i < g->n_groups; i++) {
        bson_value_destroy(&g->groups[i].id);
        acc_state_free(g->groups[i].acc, g->n_accs);
    }
    free(g->groups);
    free(g->buckets);
    g->groups = NULL;
    g->buckets = NULL;
    g->n_groups = g->cap_groups = g->n_buckets = 0;
    g->mem_bytes = 0;
}

void agg_group_destroy(struct agg_group *g)
{
    if (g == NULL)
        return;
    agg_group_reset(g);
    for (size_t i = 0; i < g->n_accs; i++) {
        free(g->accs[i].field);
        bson_value_destroy(&g->accs[i].expr);
    }
    free(g->accs);
    bson_value_destroy(&g->id_expr);
    free(g);
}

/* The group key: missing becomes null; object _ids evaluate field by field
 * so that a missing field is null rather than absent. */
static int eval_id(const struct agg_group *g, const struct agg_ctx *c, bson_value_t *out, struct err *e)
{
    if (!g->is_id_object) {
        int rc = agg_expr_eval(&g->id_expr, c, out, e);
        if (rc == 0 && agg_val_is_missing(out))
            agg_val_null(out);
        return rc;
    }
    bson_t doc = BSON_INITIALIZER;
    bson_iter_t it;
    bson_iter_init_from_data(&it, g->id_expr.value.v_doc.data, g->id_expr.value.v_doc.data_len);
    while (bson_iter_next(&it)) {
        bson_value_t v;
        int rc = agg_expr_eval(bson_iter_value(&it), c, &v, e);
        if (rc < 0) {
            bson_destroy(&doc);
            return rc;
        }
        if (agg_val_is_missing(&v))
            agg_val_null(&v);
        agg_val_append(&doc, bson_iter_key(&it), bson_iter_key_len(&it), &v);
        bson_value_destroy(&v);
    }
    agg_val_take_bson(out, &doc, false);
    return 0;
}

static void rehash(struct agg_group *g)
{
    size_t nb = g->n_buckets ? g->n_buckets * 2 : 64;
    free(g->buckets);
    g->buckets = xmalloc(nb * sizeof *g->buckets);
    for (size_t i = 0; i < nb; i++)
        g->buckets[i] = SIZE_MAX;
    g->n_buckets = nb;
    for (size_t i = 0; i < g->n_groups; i++) {
        size_t b = g->groups[i].hash & (nb - 1);
        g->groups[i].next = g->buckets[b];
        g->buckets[b] = i;
    }
}

/* Finds or creates the group for id (taken). */
static struct group_entry *group_lookup(struct agg_group *g, bson_value_t *id)
{
    uint64_t h = agg_val_hash(id);
    if (g->n_buckets > 0)
        for (size_t i = g->buckets[h & (g->n_buckets - 1)]; i != SIZE_MAX; i = g->groups[i].next)
            if (g->groups[i].hash == h && agg_val_compare(&g->groups[i].id, id) == 0) {
                bson_value_destroy(id);
                return &g->groups[i];
            }
    if (g->n_groups == g->cap_groups) {
        g->cap_groups = g->cap_groups ? g->cap_groups * 2 : 16;
        g->groups = xrealloc(g->groups, g->cap_groups * sizeof *g->groups);
    }
    struct group_entry *ent = &g->groups[g->n_groups++];
    ent->id = *id;
    ent->hash = h;
    ent->acc = xcalloc(g->n_accs ? g->n_accs : 1, sizeof *ent->acc);
    for (size_t i = 0; i < g->n_accs; i++)
        agg_val_missing(&ent->acc[i].val);
    g->mem_bytes += value_bytes(id) + sizeof *ent + g->n_accs * sizeof *ent->acc;
    if (g->n_groups * 2 > g->n_buckets)
        rehash(g);
    else {
        size_t b = h & (g->n_buckets - 1);
        ent->next = g->buckets[b];
        g->buckets[b] = g->n_groups - 1;
    }
    return ent;
}

static void sum_add(struct acc_state *s, const bson_value_t *v)
{
    if (v->value_type == BSON_TYPE_DECIMAL128) {
        s->dec = s->has_dec ? decimal_add(s->dec, v->value.v_decimal128) : v->value.v_decimal128;
        s->has_dec = true;
        return;
    }
    if (v->value_type == BSON_TYPE_DOUBLE) {
        if (s->sum_kind != SUM_DOUBLE)
            s->d = (double)s->i;
        s->sum_kind = SUM_DOUBLE;
    } else if (v->value_type == BSON_TYPE_INT64 && s->sum_kind == SUM_INT32) {
        s->sum_kind = SUM_INT64;
    }
    if (s->sum_kind == SUM_DOUBLE) {
        s->d += agg_val_to_double(v);
        return;
    }
    int64_t x = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64, r;
    if (__builtin_add_overflow(s->i, x, &r)) {
        s->sum_kind = SUM_DOUBLE;
        s->d = (double)s->i + (double)x;
        return;
    }
    s->i = r;
    if (s->sum_kind == SUM_INT32 && (r < INT32_MIN || r > INT32_MAX))
        s->sum_kind = SUM_INT64;
}

static void accumulate(struct agg_group *g, const struct acc_spec *a, struct acc_state *s, bson_value_t *v)
{
    switch (a->kind) {
    case ACC_SUM:
    case ACC_COUNT:
    case ACC_AVG:
        if (agg_val_is_number(v)) {
            sum_add(s, v);
            s->count++;
        }
        break;
    case ACC_MIN:
    case ACC_MAX: {
        if (agg_val_is_nullish(v))
            break;
        int cmp = s->is_set ? agg_val_compare(v, &s->val) : 0;
        if (!s->is_set || (a->kind == ACC_MIN ? cmp < 0 : cmp > 0)) {
            bson_value_destroy(&s->val);
            s->val = *v;
            agg_val_missing(v);
            s->is_set = true;
        }
        break;
    }
    case ACC_FIRST:
        if (!s->is_set) {
            s->val = *v;
            agg_val_missing(v);
            s->is_set = true;
        }
        break;
    case ACC_LAST:
        bson_value_destroy(&s->val);
        s->val = *v;
        agg_val_missing(v);
        s->is_set = true;
        break;
    case ACC_ADD_TO_SET:
    case ACC_PUSH: {
        if (agg_val_is_missing(v))
            break;
        if (a->kind == ACC_ADD_TO_SET) {
            uint64_t h = agg_val_hash(v);
            for (size_t i = 0; i < s->items.n; i++)
                if (s->hashes[i] == h && agg_val_compare(&s->items.v[i], v) == 0)
                    return;
            size_t cap = s->items.cap;
            agg_vals_push(&s->items, v);
            if (s->items.cap != cap)
                s->hashes = xrealloc(s->hashes, s->items.cap * sizeof *s->hashes);
            s->hashes[s->items.n - 1] = h;
        } else {
            agg_vals_push(&s->items, v);
        }
        g->mem_bytes += value_bytes(v);
        agg_val_missing(v);
        break;
    }
    case ACC_MERGE_OBJECTS: {
        if (v->value_type != BSON_TYPE_DOCUMENT)
            break; /* null/missing are skipped; other types were refused by the caller */
        bson_t acc = BSON_INITIALIZER;
        if (s->is_set) {
            bson_t cur;
            if (bson_init_static(&cur, s->val.value.v_doc.data, s->val.value.v_doc.data_len))
                bson_concat(&acc, &cur);
        }
        agg_doc_merge(&acc, v);
        bson_value_destroy(&s->val);
        agg_val_take_bson(&s->val, &acc, false);
        s->is_set = true;
        break;
    }
    }
}

int agg_group_add(struct agg_group *g, const bson_t *doc, const struct agg_ctx *c, struct err *e)
{
    struct agg_ctx ctx = *c;
    bson_value_t id;
    ctx.root = doc;
    int rc = eval_id(g, &ctx, &id, e);
    if (rc < 0)
        return rc;
    struct group_entry *ent = group_lookup(g, &id);
    for (size_t i = 0; i < g->n_accs; i++) {
        const struct acc_spec *a = &g->accs[i];
        bson_value_t v;
        rc = agg_expr_eval(&a->expr, &ctx, &v, e);
        if (rc < 0)
            return rc;
        if (a->kind == ACC_MERGE_OBJECTS && !agg_val_is_nullish(&v) && v.value_type != BSON_TYPE_DOCUMENT) {
            rc = err_set(e, ERR_BAD_VALUE, "$mergeObjects requires object inputs, but input %s is of type %s",
                         agg_val_type_name(&v), agg_val_type_name(&v));
            bson_value_destroy(&v);
            return rc;
        }
        accumulate(g, a, &ent->acc[i], &v);
        bson_value_destroy(&v);
    }
    return 0;
}

size_t agg_group_n_groups(const struct agg_group *g) { return g->n_groups; }

size_t agg_group_mem_bytes(const struct agg_group *g) { return g->mem_bytes; }

/* The whole sum once a decimal was seen: the integer part exactly, a double
 * part with all of its binary digits (34 decimal digits), as mongod does. */
static bson_decimal128_t sum_decimal(const struct acc_state *s)
{
    bson_decimal128_t rest;
    if (s->sum_kind != SUM_DOUBLE)
        rest = decimal_from_int64(s->i);
    else if (s->d >= -9.2e18 && s->d <= 9.2e18 && s->d == (double)(int64_t)s->d)
        rest = decimal_from_int64((int64_t)s->d);
    else
        rest = decimal_from_double_34(s->d);
    return decimal_add(rest, s->dec);
}

static void append_result(const struct acc_spec *a, const struct acc_state *s, bson_t *out)
{
    bson_value_t v;
    switch (a->kind) {
    case ACC_SUM:
    case ACC_COUNT:
        if (s->has_dec) {
            v.value_type = BSON_TYPE_DECIMAL128;
            v.value.v_decimal128 = sum_decimal(s);
        } else if (s->sum_kind == SUM_DOUBLE)
            agg_val_double(&v, s->d);
        else if (s->sum_kind == SUM_INT64)
            agg_val_int64(&v, s->i);
        else
            agg_val_int32(&v, (int32_t)s->i);
        break;
    case ACC_AVG:
        if (s->count == 0) {
            agg_val_null(&v);
        } else if (s->has_dec) {
            v.value_type = BSON_TYPE_DECIMAL128;
            v.value.v_decimal128 = decimal_div(sum_decimal(s), decimal_from_int64(s->count));
        } else
            agg_val_double(&v, (s->sum_kind == SUM_DOUBLE ? s->d : (double)s->i) / (double)s->count);
        break;
    case ACC_MIN:
    case ACC_MAX:
    case ACC_FIRST:
    case ACC_LAST:
    case ACC_MERGE_OBJECTS:
        if (!s->is_set || agg_val_is_missing(&s->val)) {
            if (a->kind == ACC_MERGE_OBJECTS) {
                bson_append_document(out, a->field, -1, &(bson_t)BSON_INITIALIZER);
                return;
            }
            agg_val_null(&v);
        } else {
            v = s->val;
        }
        break;
    case ACC_PUSH:
    case ACC_ADD_TO_SET: {
        bson_t arr;
        bson_append_array_begin(out, a->field, -1, &arr);
        for (size_t i = 0; i < s->items.n; i++) {
            char key[16];
            const char *k;
            size_t klen = bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
            bson_append_value(&arr, k, (int)klen, &s->items.v[i]);
        }
        bson_append_array_end(out, &arr);
        return;
    }
    }
    bson_append_value(out, a->field, -1, &v);
}

void agg_group_result(const struct agg_group *g, size_t i, bson_t *out)
{
    const struct group_entry *ent = &g->groups[i];
    bson_append_value(out, "_id", 3, &ent->id);
    for (size_t k = 0; k < g->n_accs; k++)
        append_result(&g->accs[k], &ent->acc[k], out);
}
