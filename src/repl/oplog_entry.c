/* oplog_entry.c - building oplog entries and validating received ones.
 *
 * The builders write MongoDB's entry shape (replication.md 2.1) in one fixed
 * field order, so two members that build the same change produce the same
 * bytes. The parser is the gate for entries that come from a peer: it checks
 * every field the applier relies on (types, sizes, required fields per op)
 * and fails with a message naming the field, so a malformed entry can never
 * reach the store. Application and undo live in oplog_apply.c. */
#include "repl/oplog_entry.h"

#include <string.h>

static void append_head(bson_t *out, const struct oplog_stamp *st, const char *op, const char *ns,
                        const uint8_t *uuid)
{
    BSON_APPEND_TIMESTAMP(out, "ts", optime_secs(st->optime), optime_inc(st->optime));
    BSON_APPEND_INT64(out, "t", st->optime.term);
    BSON_APPEND_INT32(out, "v", 2);
    BSON_APPEND_UTF8(out, "op", op);
    BSON_APPEND_UTF8(out, "ns", ns);
    if (uuid)
        BSON_APPEND_BINARY(out, "ui", BSON_SUBTYPE_UUID, uuid, 16);
}

static void append_tail(bson_t *out, const struct oplog_stamp *st)
{
    BSON_APPEND_DATE_TIME(out, "wall", st->wall_ms);
    if (st->lsid) {
        BSON_APPEND_DOCUMENT(out, "lsid", st->lsid);
        BSON_APPEND_INT64(out, "txnNumber", st->txn_number);
        BSON_APPEND_INT32(out, "stmtId", st->stmt_id);
    }
}

static void append_id_doc(bson_t *out, const char *key, const bson_value_t *id)
{
    bson_t child;
    BSON_APPEND_DOCUMENT_BEGIN(out, key, &child);
    BSON_APPEND_VALUE(&child, "_id", id);
    bson_append_document_end(out, &child);
}

void oplog_entry_insert(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_t *doc)
{
    append_head(out, st, "i", ns, uuid);
    BSON_APPEND_DOCUMENT(out, "o", doc);
    append_tail(out, st);
}

void oplog_entry_update(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_value_t *id, const bson_t *new_doc)
{
    append_head(out, st, "u", ns, uuid);
    BSON_APPEND_DOCUMENT(out, "o", new_doc);
    append_id_doc(out, "o2", id);
    append_tail(out, st);
}

void oplog_entry_delete(bson_t *out, const struct oplog_stamp *st, const char *ns, const uint8_t *uuid,
                        const bson_value_t *id)
{
    append_head(out, st, "d", ns, uuid);
    append_id_doc(out, "o", id);
    append_tail(out, st);
}

void oplog_entry_command(bson_t *out, const struct oplog_stamp *st, const char *db, const uint8_t *uuid,
                         const bson_t *cmd)
{
    size_t n = strlen(db) + sizeof ".$cmd";
    char *ns = bson_malloc(n);
    snprintf(ns, n, "%s.$cmd", db);
    append_head(out, st, "c", ns, uuid);
    bson_free(ns);
    BSON_APPEND_DOCUMENT(out, "o", cmd);
    append_tail(out, st);
}

void oplog_entry_noop(bson_t *out, const struct oplog_stamp *st, const bson_t *msg)
{
    append_head(out, st, "n", "", NULL);
    BSON_APPEND_DOCUMENT(out, "o", msg);
    append_tail(out, st);
}

static int type_error(struct err *e, const char *field, const char *want)
{
    return err_set(e, ERR_TYPE_MISMATCH, "oplog entry field '%s' must be %s", field, want);
}

static int parse_doc(bson_iter_t *it, bson_t *out, const char *field, struct err *e)
{
    if (!BSON_ITER_HOLDS_DOCUMENT(it))
        return type_error(e, field, "an object");
    const uint8_t *data;
    uint32_t len;
    bson_iter_document(it, &len, &data);
    if (!bson_init_static(out, data, len))
        return err_set(e, ERR_INVALID_BSON, "oplog entry field '%s' is not valid BSON", field);
    return 0;
}

/* An integral number (int32, int64, or a double without fraction). */
static bool iter_integral(const bson_iter_t *it, int64_t *out)
{
    if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
        *out = bson_iter_as_int64(it);
        return true;
    }
    if (BSON_ITER_HOLDS_DOUBLE(it)) {
        double d = bson_iter_double(it);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* db.coll with both parts non-empty; for commands the collection is "$cmd". */
static int check_ns(const char *ns, char op, struct err *e)
{
    const char *dot = strchr(ns, '.');
    if (strlen(ns) > 255)
        return err_set(e, ERR_INVALID_NAMESPACE, "oplog entry namespace is longer than 255 bytes");
    if (dot == NULL || dot == ns || dot[1] == '\0')
        return err_set(e, ERR_INVALID_NAMESPACE, "oplog entry of op '%c' has invalid namespace '%s'", op, ns);
    if (op == 'c' && strcmp(dot + 1, "$cmd") != 0)
        return err_set(e, ERR_INVALID_NAMESPACE, "command oplog entry namespace '%s' must be <db>.$cmd", ns);
    return 0;
}

static bool doc_has_id(const bson_t *doc)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, "_id");
}

/* Per-op requirements, after every field was read. */
static int check_op(const struct oplog_entry *en, struct err *e)
{
    int rc;
    switch (en->op) {
    case 'i':
    case 'd':
        if ((rc = check_ns(en->ns, en->op, e)) < 0)
            return rc;
        if (!doc_has_id(&en->o))
            return err_set(e, ERR_BAD_VALUE, "oplog entry of op '%c' needs an _id in 'o'", en->op);
        return 0;
    case 'u':
        if ((rc = check_ns(en->ns, en->op, e)) < 0)
            return rc;
        if (!en->has_o2)
            return err_set(e, ERR_MISSING_FIELD, "update oplog entry is missing required field 'o2'");
        if (!doc_has_id(&en->o2))
            return err_set(e, ERR_BAD_VALUE, "update oplog entry needs an _id in 'o2'");
        return 0;
    case 'c':
        if ((rc = check_ns(en->ns, en->op, e)) < 0)
            return rc;
        if (bson_empty(&en->o))
            return err_set(e, ERR_BAD_VALUE, "command oplog entry has an empty command object 'o'");
        return 0;
    case 'n':
        return 0;
    default:
        return err_set(e, ERR_BAD_VALUE, "oplog entry has unknown op '%c'", en->op);
    }
}

int oplog_entry_parse(const bson_t *doc, struct oplog_entry *out, struct err *e)
{
    struct oplog_entry en;
    memset(&en, 0, sizeof en);
    bool has_ts = false, has_t = false, has_v = false, has_op = false, has_o = false, has_wall = false;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return err_set(e, ERR_INVALID_BSON, "oplog entry is not valid BSON");
    int rc;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "ts") == 0) {
            if (!BSON_ITER_HOLDS_TIMESTAMP(&it))
                return type_error(e, k, "a Timestamp");
            uint32_t secs, inc;
            bson_iter_timestamp(&it, &secs, &inc);
            en.optime.ts = (uint64_t)secs << 32 | inc;
            if (en.optime.ts == 0)
                return err_set(e, ERR_BAD_VALUE, "oplog entry timestamp must not be Timestamp(0, 0)");
            has_ts = true;
        } else if (strcmp(k, "t") == 0) {
            if (!iter_integral(&it, &en.optime.term))
                return type_error(e, k, "an integral number");
            has_t = true;
        } else if (strcmp(k, "v") == 0) {
            int64_t v;
            if (!iter_integral(&it, &v))
                return type_error(e, k, "an integral number");
            if (v != 2)
                return err_set(e, ERR_BAD_VALUE, "unsupported oplog entry version %lld (expected 2)", (long long)v);
            has_v = true;
        } else if (strcmp(k, "op") == 0) {
            uint32_t len;
            const char *op = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &len) : NULL;
            if (op == NULL)
                return type_error(e, k, "a string");
            if (len != 1 || strchr("iudcn", op[0]) == NULL)
                return err_set(e, ERR_BAD_VALUE, "oplog entry has unknown op '%s'", op);
            en.op = op[0];
            has_op = true;
        } else if (strcmp(k, "ns") == 0) {
            uint32_t len;
            if (!BSON_ITER_HOLDS_UTF8(&it))
                return type_error(e, k, "a string");
            en.ns = bson_iter_utf8(&it, &len);
            if (strlen(en.ns) != len)
                return err_set(e, ERR_BAD_VALUE, "oplog entry namespace contains a NUL byte");
        } else if (strcmp(k, "ui") == 0) {
            bson_subtype_t sub;
            uint32_t len;
            const uint8_t *bin;
            if (!BSON_ITER_HOLDS_BINARY(&it))
                return type_error(e, k, "a UUID");
            bson_iter_binary(&it, &sub, &len, &bin);
            if (sub != BSON_SUBTYPE_UUID || len != 16)
                return err_set(e, ERR_BAD_VALUE, "oplog entry field 'ui' must be a 16-byte UUID (subtype 4)");
            memcpy(en.uuid, bin, 16);
            en.has_uuid = true;
        } else if (strcmp(k, "o") == 0) {
            if ((rc = parse_doc(&it, &en.o, k, e)) < 0)
                return rc;
            has_o = true;
        } else if (strcmp(k, "o2") == 0) {
            if ((rc = parse_doc(&it, &en.o2, k, e)) < 0)
                return rc;
            en.has_o2 = true;
        } else if (strcmp(k, "wall") == 0) {
            if (!BSON_ITER_HOLDS_DATE_TIME(&it))
                return type_error(e, k, "a Date");
            en.wall_ms = bson_iter_date_time(&it);
            has_wall = true;
        }
    }
    const char *missing = NULL;
    if (!has_ts)
        missing = "ts";
    else if (!has_t)
        missing = "t";
    else if (!has_v)
        missing = "v";
    else if (!has_op)
        missing = "op";
    else if (en.ns == NULL)
        missing = "ns";
    else if (!has_o)
        missing = "o";
    else if (!has_wall)
        missing = "wall";
    if (missing)
        return err_set(e, ERR_MISSING_FIELD, "oplog entry is missing required field '%s'", missing);
    if ((rc = check_op(&en, e)) < 0)
        return rc;
    /* The views point into doc; re-initialise them in *out rather than copy a static bson_t. */
    *out = en;
    bson_init_static(&out->o, bson_get_data(&en.o), en.o.len);
    if (en.has_o2)
        bson_init_static(&out->o2, bson_get_data(&en.o2), en.o2.len);
    return 0;
}
