/* match_int.h - the parsed filter tree shared by match_parse.c and match_eval.c.
 *
 * Not a public contract: other modules use match.h. Every bson_value_t and
 * path in the tree borrows from the matcher's private copy of the filter. */
#ifndef TALLY_MATCH_INT_H
#define TALLY_MATCH_INT_H

#include "query/match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

enum mnode_kind {
    MN_AND,          /* all children */
    MN_OR,           /* any child */
    MN_NOR,          /* no child */
    MN_NOT,          /* not children[0] */
    MN_FALSE,        /* matches nothing ($all: []) */
    MN_EQ,           /* value */
    MN_LT,           /* value */
    MN_LTE,          /* value */
    MN_GT,           /* value */
    MN_GTE,          /* value */
    MN_IN,           /* in_values / in_regexes; value = the whole array */
    MN_EXISTS,       /* field present (negated via MN_NOT) */
    MN_TYPE,         /* type_mask */
    MN_SIZE,         /* size */
    MN_REGEX,        /* re; value = the regex as a BSON regex (for equality) */
    MN_MOD,          /* mod_divisor, mod_remainder */
    MN_ELEM_VALUE,   /* an array element satisfies every child (path-less leaves) */
    MN_ELEM_OBJECT,  /* an array element (a document) matches children[0] */
    MN_EXPR,         /* $expr: value is the aggregation expression; path NULL */
    MN_BITS_ALL_SET,   /* bit_positions */
    MN_BITS_ANY_SET,   /* bit_positions */
    MN_BITS_ALL_CLEAR, /* bit_positions */
    MN_BITS_ANY_CLEAR, /* bit_positions */
};

/* Bits of mnode.type_mask: BSON type codes 1..19 as themselves, plus: */
#define TYPE_BIT_MINKEY 24
#define TYPE_BIT_MAXKEY 25
#define TYPE_BIT_NUMBER 26

struct mnode {
    enum mnode_kind kind;
    const char *path; /* NULL for the element-level leaves of $elemMatch */
    bson_value_t value;
    struct mnode **children;
    int n_children;
    bson_value_t *in_values;
    int n_in_values;
    pcre2_code **in_regexes;
    int n_in_regexes;
    bool has_null_in; /* $in contains null: matches missing */
    uint32_t type_mask;
    int64_t size;
    pcre2_code *re;
    char *re_pattern; /* owned, for regex equality */
    char *re_flags;   /* owned */
    int64_t mod_divisor;
    int64_t mod_remainder;
    uint32_t *bit_positions; /* owned; each < 2^31, as mongod requires */
    int n_bit_positions;
};

struct matcher {
    bson_t *filter; /* owned copy; the tree borrows from it */
    struct mnode *root;
};

void mnode_free(struct mnode *n);
/* match_bits.c: the node kind for a bitwise operator name (MN_AND when op
 * is none); filling n->bit_positions from the mask v; testing one value. */
enum mnode_kind match_bits_kind(const char *op);
int match_bits_parse(struct mnode *n, const char *op, const bson_value_t *v, struct err *e);
bool match_bits_test(const struct mnode *n, const bson_value_t *v);
bool mnode_eval(const struct mnode *n, const bson_t *doc, int *pos);

#endif
