/* update_internal.h - shared types of the update engine (update_*.c only).
 *
 * An update is parsed once (update_parse.c) into a list of operations sorted
 * by path, then applied (update_apply.c, update_array.c) to a mutable tree
 * copy of the document (update_doc.c) which is serialised back to BSON. */
#ifndef TALLY_UPDATE_INTERNAL_H
#define TALLY_UPDATE_INTERNAL_H

#include "core/err.h"
#include "query/update.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct matcher;
struct pipeline;

/* ---- the mutable document tree (update_doc.c) ---- */

/* A document, array or scalar. Array children carry no key (keys are
 * regenerated as "0", "1", ... when serialised). */
struct unode {
    char *key;         /* field name; NULL for array elements */
    bson_type_t type;  /* BSON_TYPE_DOCUMENT / BSON_TYPE_ARRAY or a scalar type */
    bson_value_t val;  /* scalars only: owned copy */
    struct unode **kids;
    size_t n_kids, cap_kids;
};

/* Each returns an owned node (unode_free). key may be NULL. */
struct unode *unode_from_doc(const bson_t *doc);
struct unode *unode_from_value(const char *key, const bson_value_t *v);
struct unode *unode_new_container(const char *key, bson_type_t type);
struct unode *unode_clone(const struct unode *n, const char *key);
void unode_free(struct unode *n);
void unode_set_key(struct unode *n, const char *key);
bool unode_is_container(const struct unode *n);

/* Child index of key in a document node, or -1. */
long unode_find(const struct unode *doc, const char *key);
/* Takes kid. */
void unode_insert(struct unode *parent, size_t at, struct unode *kid);
/* Removes and returns the child (owned by the caller). */
struct unode *unode_detach(struct unode *parent, size_t at);
/* Frees the old child; takes kid and gives it the old child's key. */
void unode_replace(struct unode *parent, size_t at, struct unode *kid);

/* Appends the children of a document node to out. */
void unode_write_doc(const struct unode *doc, bson_t *out);
void unode_append(const struct unode *n, bson_t *out, const char *key);
/* A borrowed value view of n: containers are serialised into tmp, which the
 * callee bson_init's and the caller always bson_destroy's. */
void unode_value(const struct unode *n, bson_t *tmp, bson_value_t *out);
/* True when both have the same type and the same bytes. */
bool unode_binary_equal(const struct unode *a, const struct unode *b);

/* Shell-like renderings for error messages ({a: 1}, "x", [1, 2]). */
void update_render_value(const bson_value_t *v, bson_string_t *s);
void update_render_node(const struct unode *n, bson_string_t *s);

/* ---- parsed updates (update_parse.c) ---- */

enum uop_kind {
    UOP_SET,
    UOP_UNSET,
    UOP_INC,
    UOP_MUL,
    UOP_MIN,
    UOP_MAX,
    UOP_RENAME,
    UOP_SET_ON_INSERT,
    UOP_CURRENT_DATE,
    UOP_PUSH,
    UOP_ADD_TO_SET,
    UOP_POP,
    UOP_PULL,
    UOP_PULL_ALL,
};

/* A dotted path split into components. filter[i] is the array-filter index
 * for a "$[ident]" component, else -1. */
struct upath {
    char *text;
    char **parts;
    int *filter;
    int n_parts;
};

enum upos_kind { UPOS_NONE, UPOS_DOLLAR, UPOS_ALL, UPOS_FILTER };
enum upos_kind upath_part_kind(const char *part);

struct uop {
    enum uop_kind kind;
    const char *name; /* "$set" */
    struct upath path; /* destination for $rename */
    struct upath from; /* $rename source */
    int spec_index;    /* position in the update document (for conflict messages) */
    bson_value_t arg;  /* owned copy of the operator argument */
    /* $push / $addToSet / $pullAll values (owned copies) */
    bson_value_t *vals;
    size_t n_vals;
    bool has_slice, has_position;
    int64_t slice, position;
    int sort_kind; /* 0 none, 1 whole elements, 2 by fields of sort_spec */
    int sort_dir;
    bson_t *sort_spec; /* owned; NULL unless sort_kind == 2 */
    bool is_timestamp;       /* $currentDate */
    int pop_dir;             /* $pop: 1 last, -1 first */
    struct matcher *pull_m;  /* $pull with a condition */
    bool is_pull_wrapped;    /* pull_m matches {v: element} instead of element */
};

struct array_filter {
    char *ident;
    struct matcher *m;
    bool is_used;
};

enum update_kind { UPDATE_OPERATORS, UPDATE_REPLACEMENT, UPDATE_PIPELINE };

struct update {
    enum update_kind kind;
    bson_t *replacement; /* owned; replacements only */
    struct pipeline *pipeline;
    struct uop *ops; /* sorted by path, as mongod applies them */
    size_t n_ops;
    struct array_filter *filters;
    size_t n_filters;
};

/* Component-wise path order: numeric components numerically, others bytewise. */
int upath_compare(const struct upath *a, const struct upath *b);
int upath_parse_lenient(const char *text, struct upath *out);
void upath_free(struct upath *p);

/* ---- application (update_apply.c, update_array.c) ---- */

struct uctx {
    const struct update *u;
    const struct update_env *env;
    struct unode *root;
    struct err *e;
};

/* A place in the tree: child idx of parent, or (idx < 0 in a document, idx
 * >= n_kids in an array) a missing one to be created under key. */
struct uslot {
    struct unode *parent;
    long idx;
    const char *key;
};

struct unode *uslot_get(const struct uslot *s);
/* Takes n; pads arrays with nulls up to the slot. */
void uslot_put(struct uslot *s, struct unode *n);
/* Appends " in document {_id: ...}"-style context. */
void uctx_render_id(const struct uctx *c, bson_string_t *s);

int uop_apply_array(struct uctx *c, const struct uop *op, struct uslot *s);
/* True when array element n matches array filter f. */
bool update_filter_match(const struct array_filter *f, const struct unode *n);

#endif
