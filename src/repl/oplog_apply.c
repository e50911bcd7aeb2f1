/* oplog_apply.c - applying oplog entries to the store, and undoing them.
 *
 * Sits between replication (which fetches entries and decides when to apply
 * them) and the store (store.h), inside the caller's write transaction. It
 * guarantees idempotency: applying an entry once or many times, on data that
 * already reflects it or later entries, leaves the same data (the rules are
 * in oplog_entry.h). Entries with a UUID are applied to the collection that
 * holds it, so renames are safe and entries of a dropped collection never
 * touch a newer one of the same name. Undo records revert one document to the
 * state it had before an entry (rollback above the commit point). */
#include "repl/oplog_entry.h"

#include "query/bsonval.h"
#include "storage/oplog.h"

#include <string.h>

/* Where an entry lands. */
struct target {
    struct coll_info *c; /* owned; NULL when missing or stale */
    bool is_stale;       /* ns holds a collection with another UUID: the entry's collection is gone */
    char db[256];
    const char *coll; /* points into the namespace given to resolve() */
};

static void target_destroy(struct target *tg)
{
    coll_info_destroy(tg->c);
    tg->c = NULL;
}

static int split_ns(const char *ns, struct target *tg, struct err *e)
{
    const char *dot = strchr(ns, '.');
    size_t n = dot ? (size_t)(dot - ns) : 0;
    if (dot == NULL || n == 0 || n >= sizeof tg->db || dot[1] == '\0')
        return err_set(e, ERR_INVALID_NAMESPACE, "invalid namespace '%s'", ns);
    memcpy(tg->db, ns, n);
    tg->db[n] = '\0';
    tg->coll = dot + 1;
    return 0;
}

/* The collection holding uuid, whatever its name. *out NULL when none. */
static int find_by_uuid(struct store_txn *t, const uint8_t *uuid, struct coll_info **out, struct err *e)
{
    struct coll_info **list;
    int n;
    *out = NULL;
    int rc = store_coll_list(t, NULL, &list, &n, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n && rc == 0; i++)
        if (memcmp(list[i]->uuid, uuid, 16) == 0)
            rc = store_coll_find(t, list[i]->db, list[i]->name, out, e);
    coll_info_list_free(list, n);
    return rc;
}

/* Finds the collection an entry (or undo record) on ns / uuid refers to. */
static int resolve(struct store_txn *t, const char *ns, const uint8_t *uuid, struct target *tg, struct err *e)
{
    memset(tg, 0, sizeof *tg);
    int rc = split_ns(ns, tg, e);
    if (rc < 0)
        return rc;
    if ((rc = store_coll_find(t, tg->db, tg->coll, &tg->c, e)) < 0)
        return rc;
    if (uuid == NULL || (tg->c && memcmp(tg->c->uuid, uuid, 16) == 0))
        return 0;
    bool had_name = tg->c != NULL;
    target_destroy(tg);
    if ((rc = find_by_uuid(t, uuid, &tg->c, e)) < 0)
        return rc;
    tg->is_stale = tg->c == NULL && had_name;
    return 0;
}

/* resolve(), then create the collection (with uuid) when nothing holds the
 * namespace. A stale target stays NULL. */
static int resolve_or_create(struct store_txn *t, const char *ns, const uint8_t *uuid, struct target *tg,
                             struct err *e)
{
    int rc = resolve(t, ns, uuid, tg, e);
    if (rc < 0 || tg->c || tg->is_stale)
        return rc;
    if ((rc = store_coll_create(t, tg->db, tg->coll, NULL, &tg->c, e)) < 0)
        return rc;
    if (uuid && (rc = oplog_coll_set_uuid(t, tg->c, uuid, e)) < 0)
        target_destroy(tg);
    return rc;
}

/* Recovering mode tolerates conflicts that a later state of the data explains
 * (replication.md 2.3). The store changed nothing when it reported them. */
static int tolerate(int rc, enum oplog_apply_mode mode, struct err *e)
{
    if (mode == OPLOG_APPLY_RECOVERING &&
        (rc == -ERR_DUPLICATE_KEY || rc == -ERR_INDEX_KEY_SPECS_CONFLICT || rc == -ERR_INDEX_OPTIONS_CONFLICT ||
         rc == -ERR_INDEX_ALREADY_EXISTS || rc == -ERR_NAMESPACE_EXISTS)) {
        err_clear(e);
        return 0;
    }
    return rc;
}

static bool id_of(const bson_t *doc, bson_value_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id"))
        return false;
    *out = *bson_iter_value(&it);
    return true;
}

/* Makes the document with doc's _id equal doc: insert, or replace when present. */
static int put_doc(struct store_txn *t, const struct coll_info *c, const bson_t *doc, struct err *e)
{
    bson_value_t id;
    if (!id_of(doc, &id))
        return err_set(e, ERR_INVALID_ID_FIELD, "document has no _id field");
    bson_t old;
    bool found;
    int rc = store_doc_get(t, c, &id, &old, &found, e);
    if (rc < 0)
        return rc;
    if (!found)
        return store_doc_insert(t, c, doc, e);
    if (bson_equal(&old, doc))
        return 0;
    return store_doc_update(t, c, &old, doc, e);
}

static int remove_doc(struct store_txn *t, const struct coll_info *c, const bson_value_t *id, struct err *e)
{
    bson_t old;
    bool found;
    int rc = store_doc_get(t, c, id, &old, &found, e);
    if (rc < 0 || !found)
        return rc;
    return store_doc_delete(t, c, &old, e);
}

static const uint8_t *entry_uuid(const struct oplog_entry *en)
{
    return en->has_uuid ? en->uuid : NULL;
}

static int apply_crud(struct store_txn *t, const struct oplog_entry *en, enum oplog_apply_mode mode, struct err *e)
{
    struct target tg;
    int rc;
    if (en->op == 'd') {
        bson_value_t id;
        id_of(&en->o, &id);
        rc = resolve(t, en->ns, entry_uuid(en), &tg, e);
        if (rc == 0 && tg.c)
            rc = remove_doc(t, tg.c, &id, e);
        target_destroy(&tg);
        return rc;
    }
    if (en->op == 'u') {
        bson_value_t id, new_id;
        id_of(&en->o2, &id);
        bson_iter_t it;
        if (bson_iter_init(&it, &en->o) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$')
            return err_set(e, ERR_NOT_IMPLEMENTED, "update entries with operators or $v:2 deltas are not supported; "
                                                   "Tally records full post-images");
        if (!id_of(&en->o, &new_id) || !bsonval_equal(&id, &new_id))
            return err_set(e, ERR_BAD_VALUE, "update entry's post-image 'o' must carry the _id of 'o2'");
    }
    rc = resolve_or_create(t, en->ns, entry_uuid(en), &tg, e);
    if (rc == 0 && tg.c)
        rc = tolerate(put_doc(t, tg.c, &en->o, e), mode, e);
    target_destroy(&tg);
    return rc;
}

/* Fields of a command object that are not part of what it creates. */
static bool is_generic_field(const char *k)
{
    static const char *const names[] = {"idIndex", "writeConcern", "lsid", "txnNumber", "$db", "comment",
                                        "maxTimeMS", "$readPreference", "$clusterTime", "apiVersion",
                                        "apiStrict", "apiDeprecationErrors", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(k, names[i]) == 0)
            return true;
    return false;
}

/* cmd minus its first field (the command name) and generic arguments. */
static void cmd_rest(const bson_t *cmd, bson_t *out)
{
    bson_iter_t it;
    bson_init(out);
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it))
        return;
    while (bson_iter_next(&it))
        if (!is_generic_field(bson_iter_key(&it)))
            bson_append_value(out, bson_iter_key(&it), -1, bson_iter_value(&it));
}

/* "db" + "." + coll from the command's string argument. */
static int cmd_ns(const char *db, bson_iter_t *arg, const char *cmd_name, char *ns, size_t n, struct err *e)
{
    uint32_t len;
    if (!BSON_ITER_HOLDS_UTF8(arg) || bson_iter_utf8(arg, &len)[0] == '\0')
        return err_set(e, ERR_BAD_VALUE, "oplog command '%s' needs a collection name", cmd_name);
    if (snprintf(ns, n, "%s.%s", db, bson_iter_utf8(arg, NULL)) >= (int)n)
        return err_set(e, ERR_INVALID_NAMESPACE, "namespace too long in oplog command '%s'", cmd_name);
    return 0;
}

static int apply_create(struct store_txn *t, const struct oplog_entry *en, const char *ns,
                        enum oplog_apply_mode mode, struct err *e)
{
    struct target tg;
    int rc = resolve(t, ns, entry_uuid(en), &tg, e);
    if (rc < 0)
        return rc;
    bson_t options;
    cmd_rest(&en->o, &options);
    if (tg.c) {
        /* Already there (by UUID, or by name with the same options). */
        if (!en->has_uuid && !bson_equal(&tg.c->options, &options) && mode == OPLOG_APPLY_STEADY)
            rc = err_set(e, ERR_NAMESPACE_EXISTS, "Collection %s already exists with different options", ns);
    } else if (tg.is_stale) {
        if (mode == OPLOG_APPLY_STEADY)
            rc = err_set(e, ERR_NAMESPACE_EXISTS, "Collection %s already exists with another UUID", ns);
    } else {
        rc = store_coll_create(t, tg.db, tg.coll, &options, &tg.c, e);
        if (rc == 0 && en->has_uuid)
            rc = oplog_coll_set_uuid(t, tg.c, en->uuid, e);
    }
    bson_destroy(&options);
    target_destroy(&tg);
    return rc;
}

static int apply_rename(struct store_txn *t, const struct oplog_entry *en, bson_iter_t *arg,
                        enum oplog_apply_mode mode, struct err *e)
{
    if (!BSON_ITER_HOLDS_UTF8(arg))
        return err_set(e, ERR_BAD_VALUE, "oplog command 'renameCollection' needs a source namespace string");
    const char *from = bson_iter_utf8(arg, NULL);
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &en->o, "to") || !BSON_ITER_HOLDS_UTF8(&it))
        return err_set(e, ERR_BAD_VALUE, "oplog command 'renameCollection' needs a target namespace 'to'");
    struct target to;
    int rc = split_ns(bson_iter_utf8(&it, NULL), &to, e);
    if (rc < 0)
        return rc;
    /* dropTarget is a bool, or (mongod 4.2+) the UUID of the dropped target. */
    bool is_drop_target = bson_iter_init_find(&it, &en->o, "dropTarget") &&
                          (BSON_ITER_HOLDS_BINARY(&it) || bson_iter_as_bool(&it));
    struct target src;
    if ((rc = resolve(t, from, entry_uuid(en), &src, e)) < 0)
        return rc;
    /* Missing source: already renamed (found under the target name) or dropped later. */
    if (src.c && !(strcmp(src.c->db, to.db) == 0 && strcmp(src.c->name, to.coll) == 0))
        rc = store_coll_rename(t, src.c, to.db, to.coll, is_drop_target || mode == OPLOG_APPLY_RECOVERING, e);
    target_destroy(&src);
    return rc;
}

static int apply_create_index(struct store_txn *t, const struct oplog_entry *en, const char *ns,
                              enum oplog_apply_mode mode, struct err *e)
{
    struct target tg;
    int rc = resolve_or_create(t, ns, entry_uuid(en), &tg, e);
    if (rc < 0 || tg.c == NULL)
        return rc;
    bson_t spec;
    cmd_rest(&en->o, &spec);
    bool is_created;
    rc = tolerate(store_index_create(t, tg.c, &spec, &is_created, e), mode, e);
    bson_destroy(&spec);
    target_destroy(&tg);
    return rc;
}

static int apply_drop_indexes(struct store_txn *t, const struct oplog_entry *en, const char *ns, struct err *e)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &en->o, "index") || !(BSON_ITER_HOLDS_UTF8(&it) || BSON_ITER_HOLDS_DOCUMENT(&it)))
        return err_set(e, ERR_BAD_VALUE, "oplog command 'dropIndexes' needs 'index' (a name or a key pattern)");
    struct target tg;
    int rc = resolve(t, ns, entry_uuid(en), &tg, e);
    if (rc < 0 || tg.c == NULL)
        return rc;
    bson_t key;
    bool is_key = BSON_ITER_HOLDS_DOCUMENT(&it);
    if (is_key) {
        const uint8_t *data;
        uint32_t len;
        bson_iter_document(&it, &len, &data);
        if (!bson_init_static(&key, data, len)) {
            target_destroy(&tg);
            return err_set(e, ERR_INVALID_BSON, "invalid key pattern in oplog command 'dropIndexes'");
        }
    }
    const char *name = is_key ? NULL : bson_iter_utf8(&it, NULL);
    bool is_all = name && strcmp(name, "*") == 0;
    /* Drop from the end: the catalog's index array is rebuilt on each drop, names stay valid in our copy. */
    for (int i = tg.c->n_indexes - 1; i >= 1 && rc == 0; i--) {
        const struct index_info *ix = &tg.c->indexes[i];
        if (is_all || (name && strcmp(ix->name, name) == 0) || (is_key && bson_equal(&ix->key, &key)))
            rc = store_index_drop(t, tg.c, ix->name, e);
    }
    if (rc == -ERR_INDEX_NOT_FOUND) {
        err_clear(e);
        rc = 0;
    }
    target_destroy(&tg);
    return rc;
}

static int apply_command(struct store_txn *t, const struct oplog_entry *en, enum oplog_apply_mode mode, struct err *e)
{
    struct target tg;
    int rc = split_ns(en->ns, &tg, e); /* tg.db = the command's database */
    if (rc < 0)
        return rc;
    bson_iter_t arg;
    if (!bson_iter_init(&arg, &en->o) || !bson_iter_next(&arg))
        return err_set(e, ERR_BAD_VALUE, "empty oplog command");
    const char *name = bson_iter_key(&arg);
    char ns[600];
    if (strcmp(name, "dropDatabase") == 0)
        return store_db_drop(t, tg.db, e);
    if (strcmp(name, "renameCollection") == 0)
        return apply_rename(t, en, &arg, mode, e);
    if (strcmp(name, "create") != 0 && strcmp(name, "drop") != 0 && strcmp(name, "createIndexes") != 0 &&
        strcmp(name, "dropIndexes") != 0 && strcmp(name, "deleteIndexes") != 0)
        return err_set(e, ERR_BAD_VALUE, "unsupported oplog command '%s'", name);
    if ((rc = cmd_ns(tg.db, &arg, name, ns, sizeof ns, e)) < 0)
        return rc;
    if (strcmp(name, "create") == 0)
        return apply_create(t, en, ns, mode, e);
    if (strcmp(name, "createIndexes") == 0)
        return apply_create_index(t, en, ns, mode, e);
    if (strcmp(name, "drop") != 0)
        return apply_drop_indexes(t, en, ns, e);
    /* drop: by UUID when given, so a newer collection of the same name survives. */
    if ((rc = resolve(t, ns, entry_uuid(en), &tg, e)) < 0)
        return rc;
    if (tg.c)
        rc = store_coll_drop(t, tg.c, e);
    target_destroy(&tg);
    return rc;
}

int oplog_entry_apply(struct store_txn *t, const bson_t *entry, enum oplog_apply_mode mode, struct err *e)
{
    struct oplog_entry en;
    int rc = oplog_entry_parse(entry, &en, e);
    if (rc == 0) {
        switch (en.op) {
        case 'n':
            return 0;
        case 'c':
            rc = apply_command(t, &en, mode, e);
            break;
        default:
            rc = apply_crud(t, &en, mode, e);
            break;
        }
    }
    if (rc < 0) {
        /* Name the entry by its timestamp even when it did not parse. */
        bson_iter_t it;
        uint32_t secs = 0, inc = 0;
        if (bson_iter_init_find(&it, entry, "ts") && BSON_ITER_HOLDS_TIMESTAMP(&it))
            bson_iter_timestamp(&it, &secs, &inc);
        if (secs || inc)
            err_prefix(e, "apply op at Timestamp(%u, %u)", secs, inc);
        else
            err_prefix(e, "apply op");
    }
    return rc;
}

int oplog_entry_undo_capture(struct store_txn *t, const bson_t *entry, bson_t *out, bool *has_undo, struct err *e)
{
    struct oplog_entry en;
    *has_undo = false;
    int rc = oplog_entry_parse(entry, &en, e);
    if (rc < 0 || en.op == 'c' || en.op == 'n')
        return rc;
    bson_value_t id;
    id_of(en.op == 'u' ? &en.o2 : &en.o, &id);
    struct target tg;
    if ((rc = resolve(t, en.ns, entry_uuid(&en), &tg, e)) < 0)
        return rc;
    bson_t pre;
    bool found = false;
    if (tg.c && (rc = store_doc_get(t, tg.c, &id, &pre, &found, e)) < 0) {
        target_destroy(&tg);
        return rc;
    }
    BSON_APPEND_UTF8(out, "ns", en.ns);
    if (en.has_uuid || tg.c)
        BSON_APPEND_BINARY(out, "ui", BSON_SUBTYPE_UUID, en.has_uuid ? en.uuid : tg.c->uuid, 16);
    bson_t o2;
    BSON_APPEND_DOCUMENT_BEGIN(out, "o2", &o2);
    BSON_APPEND_VALUE(&o2, "_id", &id);
    bson_append_document_end(out, &o2);
    if (found)
        BSON_APPEND_DOCUMENT(out, "pre", &pre);
    else
        BSON_APPEND_NULL(out, "pre");
    target_destroy(&tg);
    *has_undo = true;
    return 0;
}

int oplog_entry_undo(struct store_txn *t, const bson_t *record, struct err *e)
{
    bson_iter_t it;
    const char *ns = NULL;
    const uint8_t *uuid = NULL;
    bool has_id = false, has_pre = false;
    bson_value_t id;
    bson_t pre;
    bool is_pre_null = false;
    if (!bson_iter_init(&it, record))
        return err_set(e, ERR_INVALID_BSON, "undo record is not valid BSON");
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "ns") == 0 && BSON_ITER_HOLDS_UTF8(&it)) {
            ns = bson_iter_utf8(&it, NULL);
        } else if (strcmp(k, "ui") == 0 && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_subtype_t sub;
            uint32_t len;
            bson_iter_binary(&it, &sub, &len, &uuid);
            if (len != 16)
                return err_set(e, ERR_BAD_VALUE, "undo record field 'ui' must be a 16-byte UUID");
        } else if (strcmp(k, "o2") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t sub;
            if (bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "_id")) {
                id = *bson_iter_value(&sub);
                has_id = true;
            }
        } else if (strcmp(k, "pre") == 0 && (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_NULL(&it))) {
            has_pre = true;
            is_pre_null = BSON_ITER_HOLDS_NULL(&it);
            if (!is_pre_null) {
                const uint8_t *data;
                uint32_t len;
                bson_iter_document(&it, &len, &data);
                if (!bson_init_static(&pre, data, len))
                    return err_set(e, ERR_INVALID_BSON, "undo record pre-image is not valid BSON");
            }
        }
    }
    if (ns == NULL || !has_id || !has_pre)
        return err_set(e, ERR_BAD_VALUE, "undo record needs 'ns', 'o2' with an _id, and 'pre' (a document or null)");
    struct target tg;
    int rc = is_pre_null ? resolve(t, ns, uuid, &tg, e) : resolve_or_create(t, ns, uuid, &tg, e);
    if (rc == 0 && tg.c)
        rc = is_pre_null ? remove_doc(t, tg.c, &id, e) : put_doc(t, tg.c, &pre, e);
    target_destroy(&tg);
    if (rc < 0)
        err_prefix(e, "undo on %s", ns);
    return rc;
}
