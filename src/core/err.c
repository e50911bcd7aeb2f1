/* err.c - the error table (code -> codeName) and struct err helpers.
 *
 * One table for the whole server, so every error reply carries the codeName
 * drivers and mongosh branch on. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_name {
    int code;
    const char *name;
};

static const struct err_name err_names[] = {
    {ERR_INTERNAL_ERROR, "InternalError"},
    {ERR_BAD_VALUE, "BadValue"},
    {ERR_NO_SUCH_KEY, "NoSuchKey"},
    {ERR_GRAPH_CONTAINS_CYCLE, "GraphContainsCycle"},
    {ERR_HOST_UNREACHABLE, "HostUnreachable"},
    {ERR_HOST_NOT_FOUND, "HostNotFound"},
    {ERR_UNKNOWN_ERROR, "UnknownError"},
    {ERR_FAILED_TO_PARSE, "FailedToParse"},
    {ERR_CANNOT_MUTATE_OBJECT, "CannotMutateObject"},
    {ERR_USER_NOT_FOUND, "UserNotFound"},
    {ERR_UNSUPPORTED_FORMAT, "UnsupportedFormat"},
    {ERR_UNAUTHORIZED, "Unauthorized"},
    {ERR_TYPE_MISMATCH, "TypeMismatch"},
    {ERR_OVERFLOW, "Overflow"},
    {ERR_INVALID_LENGTH, "InvalidLength"},
    {ERR_PROTOCOL_ERROR, "ProtocolError"},
    {ERR_AUTHENTICATION_FAILED, "AuthenticationFailed"},
    {ERR_ILLEGAL_OPERATION, "IllegalOperation"},
    {ERR_INVALID_BSON, "InvalidBSON"},
    {ERR_ALREADY_INITIALIZED, "AlreadyInitialized"},
    {ERR_NAMESPACE_NOT_FOUND, "NamespaceNotFound"},
    {ERR_INDEX_NOT_FOUND, "IndexNotFound"},
    {ERR_PATH_NOT_VIABLE, "PathNotViable"},
    {ERR_NON_EXISTENT_PATH, "NonExistentPath"},
    {ERR_INVALID_PATH, "InvalidPath"},
    {ERR_CONFLICTING_UPDATE_OPERATORS, "ConflictingUpdateOperators"},
    {ERR_CURSOR_NOT_FOUND, "CursorNotFound"},
    {ERR_NAMESPACE_EXISTS, "NamespaceExists"},
    {ERR_MAX_TIME_MS_EXPIRED, "MaxTimeMSExpired"},
    {ERR_DOLLAR_PREFIXED_FIELD_NAME, "DollarPrefixedFieldName"},
    {ERR_INVALID_ID_FIELD, "InvalidIdField"},
    {ERR_NOT_SINGLE_VALUE_FIELD, "NotSingleValueField"},
    {ERR_INVALID_DBREF, "InvalidDBRef"},
    {ERR_EMPTY_FIELD_NAME, "EmptyFieldName"},
    {ERR_DOTTED_FIELD_NAME, "DottedFieldName"},
    {ERR_COMMAND_NOT_FOUND, "CommandNotFound"},
    {ERR_IMMUTABLE_FIELD, "ImmutableField"},
    {ERR_CANNOT_CREATE_INDEX, "CannotCreateIndex"},
    {ERR_INDEX_ALREADY_EXISTS, "IndexAlreadyExists"},
    {ERR_INVALID_OPTIONS, "InvalidOptions"},
    {ERR_FAIL_POINT_SET_FAILED, "FailPointSetFailed"},
    {ERR_NOT_A_REPLICA_SET, "NotAReplicaSet"},
    {ERR_INVALID_NAMESPACE, "InvalidNamespace"},
    {ERR_INDEX_OPTIONS_CONFLICT, "IndexOptionsConflict"},
    {ERR_INDEX_KEY_SPECS_CONFLICT, "IndexKeySpecsConflict"},
    {ERR_NETWORK_TIMEOUT, "NetworkTimeout"},
    {ERR_SHUTDOWN_IN_PROGRESS, "ShutdownInProgress"},
    {ERR_NOT_YET_INITIALIZED, "NotYetInitialized"},
    {ERR_OPERATION_FAILED, "OperationFailed"},
    {ERR_COMMAND_NOT_SUPPORTED, "CommandNotSupported"},
    {ERR_CAPPED_POSITION_LOST, "CappedPositionLost"},
    {ERR_INVALID_PIPELINE_OPERATOR, "InvalidPipelineOperator"},
    {ERR_QUERY_PLAN_KILLED, "QueryPlanKilled"},
    {ERR_CLIENT_METADATA_CANNOT_BE_MUTATED, "ClientMetadataCannotBeMutated"},
    {ERR_ILLEGAL_OP_MSG_FLAG, "IllegalOpMsgFlag"},
    {ERR_QUERY_FEATURE_NOT_ALLOWED, "QueryFeatureNotAllowed"},
    {ERR_TRANSACTION_TOO_OLD, "TransactionTooOld"},
    {ERR_NOT_IMPLEMENTED, "NotImplemented"},
    {ERR_CONVERSION_FAILURE, "ConversionFailure"},
    {ERR_QUERY_EXCEEDED_MEMORY_LIMIT, "QueryExceededMemoryLimitNoDiskUseAllowed"},
    {ERR_OPERATION_NOT_SUPPORTED_IN_TRANSACTION, "OperationNotSupportedInTransaction"},
    {ERR_LOCATION_16755, "Location16755"},
    {ERR_UNKNOWN_FIELD, "Location40415"},
    {ERR_NOT_A_RETRYABLE_WRITE_COMMAND, "NotARetryableWriteCommand"},
    {ERR_BSON_OBJECT_TOO_LARGE, "BSONObjectTooLarge"},
    {ERR_DUPLICATE_KEY, "DuplicateKey"},
    {ERR_INTERRUPTED_AT_SHUTDOWN, "InterruptedAtShutdown"},
    {ERR_NOT_WRITABLE_PRIMARY, "NotWritablePrimary"},
    {ERR_NOT_PRIMARY_NO_SECONDARY_OK, "NotPrimaryNoSecondaryOk"},
    {ERR_OUT_OF_DISK_SPACE, "OutOfDiskSpace"},
    {ERR_WRITE_CONCERN_FAILED, "WriteConcernFailed"},
    {ERR_NODE_NOT_FOUND, "NodeNotFound"},
    {ERR_NO_REPLICATION_ENABLED, "NoReplicationEnabled"},
    {ERR_UNKNOWN_REPL_WRITE_CONCERN, "UnknownReplWriteConcern"},
    {ERR_INVALID_REPLICA_SET_CONFIG, "InvalidReplicaSetConfig"},
    {ERR_NOT_SECONDARY, "NotSecondary"},
    {ERR_UNSATISFIABLE_WRITE_CONCERN, "UnsatisfiableWriteConcern"},
    {ERR_NEW_REPLICA_SET_CONFIGURATION_INCOMPATIBLE, "NewReplicaSetConfigurationIncompatible"},
    {ERR_CONFIGURATION_IN_PROGRESS, "ConfigurationInProgress"},
    {ERR_CANNOT_INITIALIZE_NODE_WITH_DATA, "CannotInitializeNodeWithData"},
    {ERR_CONFLICTING_OPERATION_IN_PROGRESS, "ConflictingOperationInProgress"},
    {ERR_COMMAND_FAILED, "CommandFailed"},
    {ERR_PRIMARY_STEPPED_DOWN, "PrimarySteppedDown"},
    {ERR_EXCEEDED_TIME_LIMIT, "ExceededTimeLimit"},
    {ERR_INTERRUPTED_DUE_TO_REPL_STATE_CHANGE, "InterruptedDueToReplStateChange"},
    {ERR_NOT_PRIMARY_OR_SECONDARY, "NotPrimaryOrSecondary"},
};

void err_init(struct err *e)
{
    e->code = 0;
    e->has_info = false;
    e->msg[0] = '\0';
}

void err_clear(struct err *e)
{
    if (e->has_info)
        bson_destroy(&e->info);
    err_init(e);
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    err_clear(e);
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -code;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
    char old[ERR_MSG_MAX];
    size_t n;
    va_list ap;

    memcpy(old, e->msg, sizeof old);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    n = strlen(e->msg);
    if (n + 2 < sizeof e->msg) {
        memcpy(e->msg + n, ": ", 2);
        n += 2;
        size_t room = sizeof e->msg - n - 1;
        size_t old_len = strnlen(old, room);
        memcpy(e->msg + n, old, old_len);
        e->msg[n + old_len] = '\0';
    }
}

bson_t *err_info(struct err *e)
{
    if (!e->has_info) {
        bson_init(&e->info);
        e->has_info = true;
    }
    return &e->info;
}

void err_move(struct err *dst, struct err *src)
{
    err_clear(dst);
    *dst = *src;
    err_init(src);
}

const char *err_code_name(int code)
{
    static _Thread_local char location_name[32];

    for (size_t i = 0; i < sizeof err_names / sizeof err_names[0]; i++)
        if (err_names[i].code == code)
            return err_names[i].name;
    snprintf(location_name, sizeof location_name, "Location%d", code);
    return location_name;
}

void err_append_reply(const struct err *e, bson_t *reply)
{
    int code = e->code ? e->code : ERR_INTERNAL_ERROR;
    bson_iter_t it;

    BSON_APPEND_DOUBLE(reply, "ok", 0.0);
    BSON_APPEND_UTF8(reply, "errmsg", e->msg[0] ? e->msg : err_code_name(code));
    BSON_APPEND_INT32(reply, "code", code);
    BSON_APPEND_UTF8(reply, "codeName", err_code_name(code));
    if (e->has_info && bson_iter_init(&it, &e->info))
        while (bson_iter_next(&it))
            bson_append_value(reply, bson_iter_key(&it), -1, bson_iter_value(&it));
}
