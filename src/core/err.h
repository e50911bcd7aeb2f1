/* err.h - error values and the table that maps them to MongoDB codes.
 *
 * Every fallible function returns 0 on success or the negative of an
 * `enum err_code` (which equals the MongoDB numeric `code`) and fills a
 * caller-provided `struct err` with a message an operator can act on.
 * Messages gain context as they travel up (err_prefix). Error replies on the
 * wire are built from a struct err: {ok: 0, errmsg, code, codeName, ...info}. */
#ifndef TALLY_ERR_H
#define TALLY_ERR_H

#include <bson/bson.h>
#include <stdbool.h>

/* Values are MongoDB's error codes; names follow their codeName. */
enum err_code {
    ERR_INTERNAL_ERROR = 1,
    ERR_BAD_VALUE = 2,
    ERR_NO_SUCH_KEY = 4,
    ERR_GRAPH_CONTAINS_CYCLE = 5,
    ERR_HOST_UNREACHABLE = 6,
    ERR_HOST_NOT_FOUND = 7,
    ERR_UNKNOWN_ERROR = 8,
    ERR_FAILED_TO_PARSE = 9,
    ERR_CANNOT_MUTATE_OBJECT = 10,
    ERR_USER_NOT_FOUND = 11,
    ERR_UNSUPPORTED_FORMAT = 12,
    ERR_UNAUTHORIZED = 13,
    ERR_TYPE_MISMATCH = 14,
    ERR_OVERFLOW = 15,
    ERR_INVALID_LENGTH = 16,
    ERR_PROTOCOL_ERROR = 17,
    ERR_AUTHENTICATION_FAILED = 18,
    ERR_ILLEGAL_OPERATION = 20,
    ERR_INVALID_BSON = 22,
    ERR_ALREADY_INITIALIZED = 23,
    ERR_NAMESPACE_NOT_FOUND = 26,
    ERR_INDEX_NOT_FOUND = 27,
    ERR_PATH_NOT_VIABLE = 28,
    ERR_NON_EXISTENT_PATH = 29,
    ERR_INVALID_PATH = 30,
    ERR_CONFLICTING_UPDATE_OPERATORS = 40,
    ERR_CURSOR_NOT_FOUND = 43,
    ERR_NAMESPACE_EXISTS = 48,
    ERR_MAX_TIME_MS_EXPIRED = 50,
    ERR_DOLLAR_PREFIXED_FIELD_NAME = 52,
    ERR_INVALID_ID_FIELD = 53,
    ERR_NOT_SINGLE_VALUE_FIELD = 54,
    ERR_INVALID_DBREF = 55,
    ERR_EMPTY_FIELD_NAME = 56,
    ERR_DOTTED_FIELD_NAME = 57,
    ERR_COMMAND_NOT_FOUND = 59,
    ERR_IMMUTABLE_FIELD = 66,
    ERR_CANNOT_CREATE_INDEX = 67,
    ERR_INDEX_ALREADY_EXISTS = 68,
    ERR_INVALID_OPTIONS = 72,
    ERR_INVALID_NAMESPACE = 73,
    ERR_INDEX_OPTIONS_CONFLICT = 85,
    ERR_INDEX_KEY_SPECS_CONFLICT = 86,
    ERR_NETWORK_TIMEOUT = 89,
    ERR_OPERATION_FAILED = 96,
    ERR_SHUTDOWN_IN_PROGRESS = 91,
    ERR_NOT_YET_INITIALIZED = 94,
    ERR_COMMAND_NOT_SUPPORTED = 115,
    ERR_CAPPED_POSITION_LOST = 136,
    ERR_INVALID_PIPELINE_OPERATOR = 168,
    ERR_QUERY_PLAN_KILLED = 175,
    ERR_CLIENT_METADATA_CANNOT_BE_MUTATED = 186,
    ERR_ILLEGAL_OP_MSG_FLAG = 223,
    ERR_TRANSACTION_TOO_OLD = 225,
    ERR_NOT_IMPLEMENTED = 238,
    ERR_FAIL_POINT_SET_FAILED = 266,
    ERR_CONVERSION_FAILURE = 241,
    ERR_QUERY_EXCEEDED_MEMORY_LIMIT = 292, /* QueryExceededMemoryLimitNoDiskUseAllowed */
    ERR_OPERATION_NOT_SUPPORTED_IN_TRANSACTION = 263,
    ERR_QUERY_FEATURE_NOT_ALLOWED = 224,
    ERR_LOCATION_16755 = 16755,
    ERR_MISSING_FIELD = 40414,  /* codeName Location40414: a required field is missing */
    ERR_UNKNOWN_FIELD = 40415,  /* codeName Location40415 */
    ERR_NEGATIVE_VALUE = 51024,
    ERR_OP_MSG_WITHOUT_DB = 40571, /* codeName Location40571 */
    ERR_NOT_A_RETRYABLE_WRITE_COMMAND = 50768, /* codeName Location51024: a field that must be >= 0 */
    ERR_BSON_OBJECT_TOO_LARGE = 10334,
    ERR_DUPLICATE_KEY = 11000,
    ERR_INTERRUPTED_AT_SHUTDOWN = 11600,
    ERR_NOT_WRITABLE_PRIMARY = 10107,
    ERR_NOT_PRIMARY_NO_SECONDARY_OK = 13435,
    ERR_OUT_OF_DISK_SPACE = 14031,
    /* replication */
    ERR_WRITE_CONCERN_FAILED = 64,
    ERR_NODE_NOT_FOUND = 74,
    ERR_NO_REPLICATION_ENABLED = 76,
    ERR_UNKNOWN_REPL_WRITE_CONCERN = 79,
    ERR_INVALID_REPLICA_SET_CONFIG = 93,
    ERR_NOT_SECONDARY = 95,
    ERR_UNSATISFIABLE_WRITE_CONCERN = 100,
    ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE = 103,
    ERR_CONFIGURATION_IN_PROGRESS = 109,
    ERR_CANNOT_INITIALIZE_NODE_WITH_DATA = 110,
    ERR_CONFLICTING_OPERATION_IN_PROGRESS = 117,
    ERR_NOT_A_REPLICA_SET = 123,
    ERR_COMMAND_FAILED = 125,
    ERR_PRIMARY_STEPPED_DOWN = 189,
    ERR_EXCEEDED_TIME_LIMIT = 262,
    ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE = 11602,
    ERR_NOT_PRIMARY_OR_SECONDARY = 13436,
};

#define ERR_MSG_MAX 1024

struct err {
    int code;              /* enum err_code; 0 = no error */
    bool has_info;         /* info holds extra reply fields (e.g. keyPattern) */
    bson_t info;           /* valid only when has_info; owned */
    char msg[ERR_MSG_MAX]; /* human-readable errmsg */
};

/* Initialise an empty error. Every struct err must be err_init'ed once. */
void err_init(struct err *e);
/* Release info and reset to "no error". */
void err_clear(struct err *e);
/* Record `code` with a printf-style message; returns -code so callers can
 * write `return err_set(e, ERR_BAD_VALUE, "...")`. Replaces any earlier error. */
int err_set(struct err *e, int code, const char *fmt, ...) BSON_GNUC_PRINTF(3, 4);
/* Prepend context: "ctx: old message". Keeps code and info. */
void err_prefix(struct err *e, const char *fmt, ...) BSON_GNUC_PRINTF(2, 3);
/* Borrowed pointer to the info document, initialising it on first use; fields
 * appended to it are copied into the error reply beside errmsg/code/codeName. */
bson_t *err_info(struct err *e);
/* Move src into dst (dst is cleared first; src is left empty). */
void err_move(struct err *dst, struct err *src);
/* MongoDB codeName for a code ("BadValue"). Codes without a name are
 * mongod's numbered assertions and read "Location<code>", as mongod's do. */
const char *err_code_name(int code);
/* Append {ok: 0.0, errmsg, code, codeName, <info fields>} to reply. */
void err_append_reply(const struct err *e, bson_t *reply);

#endif
