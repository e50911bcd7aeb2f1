/* readopt.h - options shared by the read commands: hint and collation. */
#ifndef TALLY_READOPT_H
#define TALLY_READOPT_H

#include "cmd/cmd.h"
#include "storage/store.h"

/* Validates the command's `hint` (index name, key pattern, or {$natural: 1|-1})
 * against c (nullable: a missing collection accepts any hint). *natural is set
 * to 1/-1 for a $natural hint, else 0. A hint naming no existing index:
 * BadValue "hint provided does not correspond to an existing index". */
int readopt_hint(struct cmd_ctx *ctx, const struct coll_info *c, int *natural);
/* Accepts an absent, empty or {locale: "simple"} collation; anything else is
 * NotImplemented "collation is not supported by this server yet". */
int readopt_collation(struct cmd_ctx *ctx);
/* readConcern {level: "linearizable", ...} (rc: the readConcern document,
 * borrowed), checked before the command runs: NotAReplicaSet (123) on a
 * standalone, FailedToParse with afterOpTime, InvalidOptions (72) with
 * afterClusterTime or atClusterTime, NotWritablePrimary (10107) "cannot
 * satisfy linearizable read concern on non-primary node" on any member that
 * is not the writable primary. The wait after the read: linearizable.h. */
int readopt_check_linearizable(struct server *srv, const bson_t *rc, struct err *e);

#endif
