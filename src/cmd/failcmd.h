/* failcmd.h - mongod's failCommand fail point, as the dispatcher applies it
 * (private to cmd/). The point's data:
 *   failCommands: [names]   required; the commands it applies to
 *   errorCode: int          fail the command with this code (errmsg "Failing
 *                           command via 'failCommand' failpoint")
 *   closeConnection: bool   close the client's connection instead of replying
 *   blockConnection: bool + blockTimeMS: int   delay the command first
 *   writeConcernError: doc  run the command, then add this writeConcernError
 *   errorLabels: [strings]  replace the labels of the error reply
 *   failInternalCommands: bool   also match commands from other members
 *                           (replSetHeartbeat, replSetRequestVotes,
 *                           replSetUpdatePosition, reads of the local database)
 *   namespace: "db.coll"    only commands on this namespace
 * A hit counts (and consumes the mode's times/skip) only for a matching
 * command, as in mongod. */
#ifndef TALLY_FAILCMD_H
#define TALLY_FAILCMD_H

#include "cmd/cmd.h"

struct fail_command {
    int error_code;          /* 0: none */
    bool is_close_connection;
    int64_t block_ms;        /* > 0: delay before the command runs */
    bool has_wc_error;
    bson_t wc_error;         /* valid when has_wc_error; owned */
    bool has_error_labels;
    bson_t error_labels;     /* array; valid when has_error_labels; owned */
};

/* Evaluates failCommand for req. Returns true when it fired and *out holds
 * what to do (release with failcmd_clear); false leaves *out untouched. */
bool failcmd_check(const struct cmd_request *req, struct fail_command *out);
void failcmd_clear(struct fail_command *fc);
/* Fills e with the failure and rewrites reply's labels later (failcmd_add_labels). */
int failcmd_error(const struct fail_command *fc, struct err *e);
/* Appends writeConcernError (when configured) to a successful reply. */
void failcmd_append_wc_error(const struct fail_command *fc, bson_t *reply);
/* Replaces an error reply's errorLabels with the configured ones. */
void failcmd_set_labels(const struct fail_command *fc, bson_t *reply);

/* The dropHeartbeats point, for an incoming replSetHeartbeat body: true when
 * it fires for the sender (data.host absent or equal to the body's "from",
 * case-insensitive); the member then refuses the heartbeat unprocessed. */
bool failcmd_drop_heartbeat(const bson_t *body);

#endif
