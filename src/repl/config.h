/* config.h - the replica-set configuration document.
 *
 * Parsed from and written back to MongoDB's shape (replSetInitiate,
 * replSetReconfig, replSetGetConfig, local.system.replset), validated with
 * MongoDB's rules (replication digest section 6): 1..50 members, at most 7
 * voters, unique _ids and hosts, priority 0..1000, arbiters/hidden/delayed/
 * non-voting members forced to priority 0, at least one electable member,
 * protocolVersion 1. Pure: no I/O. */
#ifndef TALLY_REPL_CONFIG_H
#define TALLY_REPL_CONFIG_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define REPL_MAX_MEMBERS 50
#define REPL_MAX_VOTERS 7
#define REPL_HOST_MAX 256
#define REPL_SET_NAME_MAX 128

struct repl_member {
    int id;                       /* member _id, unique, kept across reconfigs */
    char host[REPL_HOST_MAX];     /* "host:port" exactly as clients must use it */
    double priority;              /* 0..1000; 0 = never primary */
    int votes;                    /* 0 or 1 */
    bool is_arbiter;
    bool is_hidden;
    bool builds_indexes;
    int64_t secondary_delay_secs; /* 0..31622400 */
    bson_t *tags;                 /* owned; {tag: "value"} (never NULL after parse: empty doc) */
    bool is_newly_added;          /* server-set newlyAdded: true (digest 5.2); only in STORED configs */
    double newly_added_priority;  /* while is_newly_added, votes and priority read 0 (the member neither
                                   * votes nor stands, as mongod's MemberConfig answers) and this keeps the
                                   * configured priority, printed and restored when the flag goes; the
                                   * configured votes are always 1 */
};

struct repl_settings {
    bool is_chaining_allowed;          /* default true */
    int64_t heartbeat_interval_ms;     /* default 2000 */
    int64_t heartbeat_timeout_secs;    /* default 10 */
    int64_t election_timeout_ms;       /* default 10000 */
    int64_t catch_up_timeout_ms;       /* default -1 (unbounded); 0 = no catch-up */
    int64_t catch_up_takeover_delay_ms; /* default 30000; -1 disables */
    bson_t *get_last_error_modes;      /* owned; {mode: {tag: count}} (empty doc by default) */
    bson_oid_t replica_set_id;         /* generated at initiate */
    bool has_replica_set_id;
};

struct repl_config {
    char set_name[REPL_SET_NAME_MAX]; /* _id */
    int version;                      /* >= 1 */
    int64_t term;                     /* term of the primary that wrote it; -1 = none (force reconfig) */
    bool is_write_concern_majority_journal_default; /* default true */
    int n_members;
    struct repl_member members[REPL_MAX_MEMBERS];
    struct repl_settings settings;
};

enum repl_config_purpose {
    REPL_CONFIG_FOR_INITIATE,   /* version must be 1, no replicaSetId given, no newlyAdded; term
                                 * becomes 0 (the initial term) and has_replica_set_id stays false:
                                 * the caller generates the id */
    REPL_CONFIG_FOR_RECONFIG,   /* user-supplied new config */
    REPL_CONFIG_STORED,         /* read back from our own storage or a peer's heartbeat */
};

/* Parses and validates doc (borrowed) into cfg (caller-allocated; release
 * with repl_config_destroy even on failure). Errors name the field and the
 * rule, with code ERR_INVALID_REPLICA_SET_CONFIG (93) -- e.g. "members[2].priority
 * must be between 0 and 1000, got 1001" -- or ERR_TYPE_MISMATCH / ERR_UNKNOWN_FIELD
 * style codes for wrong types and unknown fields (the message always names the
 * field). Defaults are filled in. */
int repl_config_parse(const bson_t *doc, enum repl_config_purpose purpose, struct repl_config *cfg, struct err *e);
void repl_config_destroy(struct repl_config *cfg);
/* Deep copy (dst must not hold anything; release with repl_config_destroy). */
void repl_config_copy(struct repl_config *dst, const struct repl_config *src);
/* Appends the document as stored (local.system.replset) and sent in
 * heartbeats, in the shape replSetGetConfig returns: {_id, version, term,
 * protocolVersion: Int64(1), writeConcernMajorityJournalDefault, members: [{_id,
 * host, arbiterOnly, buildIndexes, hidden, priority, tags, secondaryDelaySecs:
 * Int64, votes}], settings: {chainingAllowed, heartbeatIntervalMillis,
 * heartbeatTimeoutSecs, electionTimeoutMillis, catchUpTimeoutMillis,
 * catchUpTakeoverDelayMillis, getLastErrorModes, getLastErrorDefaults: {w: 1,
 * wtimeout: 0}, replicaSetId}} to out (caller bson_init'ed); a newlyAdded
 * member prints votes 1, its configured priority and newlyAdded: true. */
void repl_config_to_bson(const struct repl_config *cfg, bson_t *out);
/* The same document without the server-internal newlyAdded fields: what
 * replSetGetConfig shows users (mongod hides them too), so that rs.conf()
 * edited and sent back never carries them. */
void repl_config_to_user_bson(const struct repl_config *cfg, bson_t *out);
/* Sets or clears member i's newlyAdded flag (digest 5.2), moving its
 * priority and vote in or out of newly_added_priority. Only a voting
 * data-bearing member may be flagged (others are left alone). */
void repl_config_set_newly_added(struct repl_config *cfg, int i, bool is_newly_added);

/* Index of the member whose host equals host (case-insensitive), or -1. */
int repl_config_find_host(const struct repl_config *cfg, const char *host);
/* Index of the member with _id == id, or -1. */
int repl_config_find_id(const struct repl_config *cfg, int id);
int repl_config_n_voters(const struct repl_config *cfg);
/* floor(voters / 2) + 1: votes needed to win an election. */
int repl_config_majority_vote_count(const struct repl_config *cfg);
/* min(majority_vote_count, voting data-bearing members): members that must
 * hold a write for w:"majority" and the commit point. */
int repl_config_write_majority(const struct repl_config *cfg);
/* True when member i may ever become primary (priority > 0, votes 1, not arbiter). */
bool repl_config_is_electable(const struct repl_config *cfg, int i);
/* (term, version) ordering for configs: term first unless either is -1. */
int repl_config_compare_version(int64_t term_a, int version_a, int64_t term_b, int version_b);
/* Checks a reconfig from old to new as a primary would (digest 6.3, without the
 * commitment waits): same name and replicaSetId, newer (term, version), a host keeps
 * its _id, arbiterOnly/buildIndexes unchanged, at most one voter added or removed
 * unless is_force. */
int repl_config_check_reconfig(const struct repl_config *old_cfg, const struct repl_config *new_cfg, bool is_force,
                               struct err *e);

#endif
