/* args.h - typed access to command fields, with mongod's error messages.
 *
 * Each getter looks up `field` in the command body. Absent: returns 0 and
 * leaves *out at the default the caller put there. Present with a wrong type:
 * returns -ERR_TYPE_MISMATCH with "BSON field 'find.limit' is the wrong type
 * 'string', expected types '[long, int, decimal, double]'". Numbers accept any
 * numeric type holding an integral value (like mongod). */
#ifndef TALLY_ARGS_H
#define TALLY_ARGS_H

#include "cmd/cmd.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

int args_int64(struct cmd_ctx *ctx, const char *field, int64_t *out);
int args_bool(struct cmd_ctx *ctx, const char *field, bool *out);    /* also accepts numbers (nonzero = true) */
int args_utf8(struct cmd_ctx *ctx, const char *field, const char **out); /* borrowed from the body */
/* Embedded document; *out is bson_init_static'ed over the body (borrowed). */
int args_doc(struct cmd_ctx *ctx, const char *field, bson_t *out, bool *is_present);
/* Array as a document with keys "0", "1", ... (borrowed). */
int args_array(struct cmd_ctx *ctx, const char *field, bson_t *out, bool *is_present);
/* The collection name from the command's first field (a string); checks it is
 * a valid collection name ("Invalid namespace specified 'db.'" otherwise). */
int args_collection(struct cmd_ctx *ctx, const char **out);
/* "db.coll" into buf; ERR_INVALID_NAMESPACE when it does not fit or is invalid. */
int args_namespace(struct cmd_ctx *ctx, const char *coll, char *buf, size_t cap);
/* Rejects fields that are not in allowed[] (NULL-terminated) and not a
 * generic field ($db, lsid, $readPreference, writeConcern, ...):
 * "BSON field 'find.foo' is an unknown field." (ERR_UNKNOWN_FIELD, 40415). */
int args_check_known(struct cmd_ctx *ctx, const char *const *allowed);
/* Valid database name (not empty, no /\. "$ or space, < 64 bytes). */
bool args_is_valid_db_name(const char *db);
/* Valid collection name (not empty, no $ except system/oplog forms, no NUL). */
bool args_is_valid_coll_name(const char *coll);

#endif
