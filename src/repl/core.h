/* core.h - the pure replication protocol core: repl_step(state, event, &actions).
 *
 * MongoDB protocol version 1 (the replication digest; rules are cited as "digest N.M")
 * as a deterministic state machine. Events carry the time (now_ms) and every
 * input the core needs; actions say what the I/O layer must do (send, persist,
 * reply, write the no-op, change sync source, log). No sockets, no clock, no
 * LMDB, no libuv; the only randomness is a PRNG seeded through repl_state_init.
 *
 * Persistence contract (digest 1.3 step 2, 1.4, pitfall 10.2.7): a PERSIST_VOTE
 * action carries a sequence number. A vote reply or the candidate's real round
 * is held back until the I/O layer reports REPL_EV_PERSISTED with that number
 * (or a later one), i.e. after the LastVote document is durable. PERSIST_VOTE
 * actions must be executed in order.
 *
 * Peers are indexed by their position in the current config's members array;
 * st->self is our own position (-1 when we are not in the config). */
#ifndef TALLY_REPL_CORE_H
#define TALLY_REPL_CORE_H

#include "core/err.h"
#include "repl/config.h"
#include "repl/messages.h"
#include "core/optime.h"

#include <stdbool.h>
#include <stdint.h>

/* Member states, numbered as MongoDB reports them (digest 5.1). */
enum repl_member_state {
    REPL_STARTUP = 0,    /* no config loaded yet */
    REPL_PRIMARY = 1,    /* leader (also while catching up: see leader_mode) */
    REPL_SECONDARY = 2,  /* replicating; may vote and stand */
    REPL_RECOVERING = 3, /* not consistent / maintenance; votes, cannot stand */
    REPL_STARTUP2 = 5,   /* initial sync */
    REPL_UNKNOWN = 6,    /* peer view only: never heard from */
    REPL_ARBITER = 7,    /* votes, holds no data */
    REPL_DOWN = 8,       /* peer view only: unreachable */
    REPL_ROLLBACK = 9,   /* rolling back a diverged oplog */
    REPL_REMOVED = 10,   /* not in the current config */
};

/* What a PRIMARY may do (digest 1.6, 1.7). */
enum repl_leader_mode {
    REPL_LEADER_NONE,          /* not primary */
    REPL_LEADER_CATCHING_UP,   /* leader-elect fetching to the newest optime seen; not writable */
    REPL_LEADER_AWAITING_NOOP, /* caught up; WRITE_NOOP emitted, waiting for NOOP_WRITTEN; not writable */
    REPL_LEADER_WRITABLE,      /* accepts writes */
    REPL_LEADER_STEPPING_DOWN, /* conditional replSetStepDown in progress; not writable */
};

enum repl_election_phase {
    REPL_ELECT_NONE,
    REPL_ELECT_DRY_RUN,        /* votes requested with the current term */
    REPL_ELECT_PERSISTING,     /* term+1 and self-vote handed to PERSIST_VOTE; waiting for PERSISTED */
    REPL_ELECT_REAL,           /* votes requested with the new term */
};

/* electionCandidateMetrics.lastElectionReason strings (digest 8.1). */
enum repl_election_reason {
    REPL_REASON_ELECTION_TIMEOUT,
    REPL_REASON_PRIORITY_TAKEOVER,
    REPL_REASON_STEP_UP,
    REPL_REASON_STEP_UP_SKIP_DRY_RUN,
    REPL_REASON_SINGLE_NODE,
};

/* Our view of another member (replSetGetStatus members[i], write concern). */
struct repl_peer {
    bool is_up;                 /* health 1 */
    bool ever_heard;            /* at least one heartbeat response */
    enum repl_member_state state; /* REPL_UNKNOWN until heard; REPL_DOWN when marked down */
    int64_t term;
    int primary_id;             /* the primary the peer knows (member _id), -1 */
    struct optime applied, durable;
    int64_t applied_wall_ms, durable_wall_ms;
    int config_version;
    int64_t config_term;
    bool is_electable;
    int sync_source_id;         /* member _id, -1 */
    uint64_t election_time;     /* Timestamp of its election, when primary */
    int64_t last_hb_sent_ms;    /* lastHeartbeat (send time of the newest request), -1 */
    int64_t last_hb_recv_ms;    /* lastHeartbeatRecv: newest heartbeat request from it, -1 */
    int64_t last_response_ms;   /* newest good heartbeat response, -1 */
    int64_t last_failure_ms;    /* newest failed heartbeat, -1 */
    int64_t last_update_ms;     /* liveness: heartbeat response or updatePosition (digest 1.7), -1 */
    int64_t ping_ms;            /* (avg*4 + sample)/5; -1 = no sample */
    int64_t next_hb_ms;         /* when to send the next heartbeat */
    int64_t hb_window_start_ms; /* first unanswered heartbeat since the last answer, -1 */
    int hb_retries;             /* immediate retries used in this window (max 2) */
    char last_hb_message[128];  /* lastHeartbeatMessage */
    int64_t sync_deny_until_ms; /* fetching from it failed: no sync source before then (0 = none) */
};

struct repl_pending_vote {
    bool is_used;
    uint64_t request_id;
    int from;                   /* sender index in config or -1 */
    uint64_t seq;               /* PERSIST_VOTE sequence that must be durable first */
    struct repl_vote_response resp;
};

#define REPL_MAX_PENDING_VOTES 8

struct repl_state {
    /* Identity and config. */
    char self_host[REPL_HOST_MAX];
    bool has_config;
    struct repl_config config; /* owned deep copy */
    int self;                  /* index in config.members, -1 */

    enum repl_member_state member_state;
    enum repl_leader_mode leader_mode;
    int primary_index;          /* the primary we know of in our term, -1 */

    /* Persistent election state (LastVote, digest 0). */
    int64_t term;
    int64_t last_vote_term;
    int last_vote_candidate;    /* index, -1 */
    uint64_t persist_seq;       /* last PERSIST_VOTE sequence emitted */
    uint64_t persisted_seq;     /* newest sequence the I/O layer reported durable */

    /* Own progress (from the applier/writer). */
    struct optime applied, durable;
    int64_t applied_wall_ms, durable_wall_ms;
    struct optime commit_point;
    int64_t commit_wall_ms;
    struct optime first_optime_of_term; /* the new-primary no-op; null until written */
    uint64_t election_time;     /* Timestamp (secs<<32) when we won, 0 */
    int64_t election_date_ms;
    int64_t wmajority_available_ms;

    /* Timers (absolute ms; -1 = not armed). */
    int64_t election_deadline_ms;
    int64_t election_sleep_until_ms; /* after adopting a higher term (digest 1.1) */
    int64_t stepdown_until_ms;       /* replSetStepDown / replSetFreeze period */
    int64_t takeover_deadline_ms;    /* priority takeover (digest 1.5) */
    int64_t catch_up_deadline_ms;    /* leader-elect catch-up bound, -1 = unbounded */
    struct optime catch_up_target;
    int64_t last_position_sent_ms;   /* replSetUpdatePosition keep-alive */

    /* Election in progress (digest 1.3). */
    enum repl_election_phase phase;
    enum repl_election_reason elect_reason;
    int64_t elect_term;              /* term the requests carry */
    int64_t elect_deadline_ms;
    int64_t elect_start_term;        /* our term when the dry run started */
    uint64_t elect_persist_seq;      /* PERSIST_VOTE of our self-vote */
    int n_votes_yes;
    bool voted_yes[REPL_MAX_MEMBERS];
    bool responded[REPL_MAX_MEMBERS];
    bool has_step_up_request;
    uint64_t step_up_request_id;
    enum repl_election_reason last_election_reason;

    /* Conditional replSetStepDown in progress (digest 1.7). */
    bool is_stepdown_active;
    bool stepdown_force;
    int64_t stepdown_secs;
    int64_t stepdown_deadline_ms;    /* end of secondaryCatchUpPeriodSecs */
    uint64_t stepdown_request_id;
    enum repl_leader_mode mode_before_stepdown;

    struct repl_pending_vote pending_votes[REPL_MAX_PENDING_VOTES];
    int pending_config_version;      /* version handed to PERSIST_CONFIG and not installed yet, 0 */
    int64_t pending_config_term;

    int sync_source;                 /* index, -1 */
    int forced_sync_source;          /* replSetSyncFrom's index, pending until chosen or until ... */
    int64_t forced_sync_source_until_ms; /* ... this time (0 = no request) */
    struct repl_peer peers[REPL_MAX_MEMBERS]; /* peers[self] is unused */
    uint64_t prng;
    int64_t now_ms;                  /* time of the event being processed */
};

/* ---- Events ---- */

enum repl_event_type {
    REPL_EV_TICK,               /* time passed */
    REPL_EV_HB_REQUEST,         /* hb_request from a peer; reply with REPLY_HEARTBEAT */
    REPL_EV_HB_RESPONSE,        /* hb_response from peer (index) */
    REPL_EV_HB_FAILURE,         /* heartbeat to peer failed (network error or timeout) */
    REPL_EV_VOTE_REQUEST,       /* vote_request; reply with REPLY_VOTE */
    REPL_EV_VOTE_RESPONSE,      /* vote_response from peer for (vote_dry_run, vote_term) */
    REPL_EV_VOTE_FAILURE,       /* vote request to peer failed */
    REPL_EV_PERSISTED,          /* PERSIST_VOTE with sequence persisted_seq is durable */
    REPL_EV_OPTIMES,            /* own applied/durable advanced (or rewound by rollback) */
    REPL_EV_UPDATE_POSITION,    /* replSetUpdatePosition entries; reply with COMMAND_RESULT */
    REPL_EV_SYNC_SOURCE_META,   /* oplog-fetch metadata from our sync source */
    REPL_EV_NOOP_WRITTEN,       /* the new-term no-op is in our oplog at noop_optime */
    REPL_EV_ABORT_CATCH_UP,     /* replSetAbortPrimaryCatchUp */
    REPL_EV_STEPDOWN_REQUEST,   /* replSetStepDown; answered with COMMAND_RESULT */
    REPL_EV_FREEZE_REQUEST,     /* replSetFreeze; answered with COMMAND_RESULT */
    REPL_EV_STEP_UP_REQUEST,    /* replSetStepUp; answered with COMMAND_RESULT when the election ends */
    REPL_EV_CONFIG_INSTALLED,   /* a config (initiate, reconfig, heartbeat reconfig) is durable */
    REPL_EV_SET_STATE,          /* applier/initial sync/rollback moved us (STARTUP2, RECOVERING, ROLLBACK, SECONDARY) */
    REPL_EV_SYNC_SOURCE_FAILED, /* fetching from peer (our sync source) failed: choose another if any */
    REPL_EV_SYNC_FROM,          /* replSetSyncFrom: prefer peer as the sync source (validated by the caller) */
};

struct repl_event {
    enum repl_event_type type;
    int64_t now_ms;
    int peer;                   /* config index of the sender/target, or -1 */
    uint64_t request_id;        /* echoed in the reply action */
    union {
        struct repl_hb_request hb_request;
        struct {
            struct repl_hb_response hb_response;
            const struct repl_config *hb_config; /* borrowed, parsed from hb_response.config; may be NULL */
            int64_t rtt_ms;
        };
        struct repl_vote_request vote_request;
        struct {
            struct repl_vote_response vote_response;
            bool vote_dry_run;  /* which round the response answers */
            int64_t vote_term;  /* term the request carried */
        };
        uint64_t persisted_seq;
        struct {
            struct optime applied, durable;
            int64_t applied_wall_ms, durable_wall_ms;
        } optimes;
        struct {
            const struct repl_position_entry *entries; /* borrowed */
            int n_entries;
            int64_t term;       /* the sender's term ($replData.term); 0 when not sent */
        } update_position;
        struct {
            int64_t term;
            struct optime commit_point;
            int primary_index;  /* -1 when the source knows no primary */
        } meta;
        struct optime noop_optime;
        struct {
            int64_t secs;
            int64_t catch_up_secs;
            bool force;
        } stepdown;
        int64_t freeze_secs;
        bool step_up_skip_dry_run;
        const struct repl_config *config; /* borrowed; copied on install */
        enum repl_member_state new_state;
    };
};

/* ---- Actions ---- */

enum repl_action_type {
    REPL_ACT_SEND_HEARTBEAT,     /* hb_request to target */
    REPL_ACT_SEND_VOTE_REQUEST,  /* vote_request to target */
    REPL_ACT_REPLY_HEARTBEAT,    /* hb_response for request_id; include_config => append our config */
    REPL_ACT_REPLY_VOTE,         /* vote_response for request_id */
    REPL_ACT_PERSIST_VOTE,       /* durably write LastVote {term, candidate_index}; then PERSISTED(seq) */
    REPL_ACT_PERSIST_CONFIG,     /* durably store config (owned), then CONFIG_INSTALLED */
    REPL_ACT_ROLE_CHANGE,        /* old_state -> new_state (reason) */
    REPL_ACT_WRITE_NOOP,         /* write {op:"n", o:{msg:"new primary"}} in term, then NOOP_WRITTEN */
    REPL_ACT_COMMIT_ADVANCED,    /* commit point moved to commit_point: wake write-concern waiters */
    REPL_ACT_SYNC_SOURCE,        /* replicate from target (-1 = stop fetching) */
    REPL_ACT_SEND_UPDATE_POSITION, /* send repl_core_position_entries() to target (our sync source) */
    REPL_ACT_SEND_STEP_UP,       /* election handoff: replSetStepUp {skipDryRun: true} to target */
    REPL_ACT_COMMAND_RESULT,     /* reply to request_id: code 0 = ok, else negative err_code + msg */
    REPL_ACT_LOG,                /* structured log line: rule + msg */
};

struct repl_action {
    enum repl_action_type type;
    int target;                  /* member index, -1 */
    uint64_t request_id;
    union {
        struct repl_hb_request hb_request;
        struct {
            struct repl_hb_response hb_response;
            bool include_config; /* the caller's (term, version) is older than ours */
        };
        struct repl_vote_request vote_request;
        struct repl_vote_response vote_response;
        struct {
            uint64_t seq;
            int64_t term;
            int64_t candidate_index;
        } persist;
        struct repl_config *config; /* owned by the action list */
        struct {
            enum repl_member_state old_state, new_state;
            char reason[128];
        } role;
        int64_t noop_term;
        struct optime commit_point;
        struct {
            int code;            /* 0 or negative enum err_code */
            char msg[256];
            bool is_warning;     /* replSetFreeze 1: "you really want to freeze for only 1 second?" */
        } result;
        struct {
            char rule[32];       /* digest rule, e.g. "1.4.2" */
            char msg[256];
        } log;
    };
};

/* Growable list; repl_step appends to it. */
struct repl_actions {
    struct repl_action *v;
    int n, cap;
};

void repl_actions_init(struct repl_actions *a);
/* Frees owned configs and empties the list (keeps capacity). */
void repl_actions_clear(struct repl_actions *a);
void repl_actions_destroy(struct repl_actions *a);

/* ---- API ---- */

/* Initialises st (caller-allocated) with no config: STARTUP, term -1 (digest 0),
 * null optimes. self_host identifies us in configs ("host:port"). seed feeds
 * the election-offset PRNG. Restore persisted state with repl_state_restore. */
void repl_state_init(struct repl_state *st, const char *self_host, uint64_t seed);
void repl_state_destroy(struct repl_state *st);
/* Deep copy for simulators (dst must not hold anything). */
void repl_state_copy(struct repl_state *dst, const struct repl_state *src);
/* Restart recovery: term and LastVote from local.replset.election, optimes from
 * the oplog. Call before the first event (or before CONFIG_INSTALLED). */
void repl_state_restore(struct repl_state *st, int64_t term, int64_t last_vote_term, int last_vote_candidate,
                        struct optime applied, struct optime durable);

/* Processes one event (borrowed) and appends actions to out. Events must have
 * non-decreasing now_ms. Never fails: malformed or stale inputs are ignored
 * (or answered with an error reply) and logged. */
void repl_step(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);

/* ---- Queries for hello / replSetGetStatus / write concern ---- */

static inline bool repl_is_writable_primary(const struct repl_state *st)
{
    return st->member_state == REPL_PRIMARY && st->leader_mode == REPL_LEADER_WRITABLE;
}
const char *repl_member_state_str(enum repl_member_state s);
const char *repl_election_reason_str(enum repl_election_reason r);
/* Member i's applied/durable optimes as this node knows them (self included). */
void repl_member_optimes(const struct repl_state *st, int i, struct optime *applied, struct optime *durable);
/* The replSetUpdatePosition payload this node would send upstream: itself and
 * every live member it has heard from. Returns the count written (<= cap). */
int repl_core_position_entries(const struct repl_state *st, struct repl_position_entry *out, int cap);
/* Reason we cannot stand for election now (digest 1.2), or NULL when electable. */
const char *repl_unelectable_reason(const struct repl_state *st, bool is_priority_takeover);

#endif
