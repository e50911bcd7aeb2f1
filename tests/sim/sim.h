/* sim.h - the deterministic simulator of the replication core (tests/sim).
 *
 * One PRNG seed drives a whole run: a virtual global clock, an event queue
 * (ordered by time, then by insertion), 3/5/7 members each running the pure
 * core (repl_step), a network that delays, drops, duplicates and reorders,
 * a nemesis (partitions, crashes with loss of everything not persisted,
 * pauses, clock skew), a model of the glue the core does not own (oplog with
 * a durable prefix, fetcher, rollback, persistence jobs, client writes), and
 * invariant checks after every step. Test-only code: it is never linked into
 * tallyd. */
#ifndef TALLY_SIM_H
#define TALLY_SIM_H

#include "repl/core.h"

#include <stdbool.h>
#include <stdint.h>

#define SIM_MAX 7
#define SIM_RING 48            /* trace records kept for a failure report */
#define SIM_BATCH 40           /* oplog entries per fetch batch */

/* One oplog entry: its optime, the hash of the whole prefix ending here (log
 * matching is checked on these), and the client write it carries (-1: no-op). */
struct sim_op {
    struct optime ot;
    uint64_t prefix_hash;
    int64_t write_id;
};

struct sim_log {
    struct sim_op *v;
    int n, cap;
    int n_durable;             /* entries [0, n_durable) survive a crash */
};

enum sim_ev_kind {
    SE_TICK,
    SE_MSG,                    /* a repl_event delivered to a member */
    SE_REQ_TIMEOUT,            /* a heartbeat/vote request was not answered in time */
    SE_PERSIST_VOTE,           /* PERSIST_VOTE job done */
    SE_PERSIST_CONFIG,
    SE_NOOP,                   /* WRITE_NOOP job done */
    SE_FSYNC,                  /* the log is durable up to arg entries */
    SE_FETCH,                  /* the fetcher's next round */
    SE_FETCH_REQ,              /* a find arrives at the source */
    SE_FETCH_REPLY,            /* the source's batch arrives back */
    SE_ROLLBACK_DONE,          /* the rollback job finished */
    SE_CLIENT,                 /* a client submits a write */
    SE_NEMESIS,
    SE_RESTART,
    SE_RESUME,
    SE_HEAL,                   /* faults stop; convergence phase begins */
};

struct sim_fetch_reply {
    bool has_ours;             /* the source holds our last entry */
    int n;                     /* entries after ours (has_ours) */
    struct optime v[SIM_BATCH];
    int64_t meta_term;
    struct optime meta_commit;
    int meta_primary;
    bool is_empty;             /* nothing at or after our last timestamp */
    struct optime *snapshot;   /* the source's whole log (when !has_ours), owned */
    int n_snapshot;
};

struct sim_ev {
    int64_t at;
    uint64_t seq;
    enum sim_ev_kind kind;
    int member;
    uint64_t inc;              /* the member incarnation the event belongs to */
    int from;                  /* sender for messages, -1 */
    uint64_t from_inc;
    int64_t arg;               /* sequence, count, generation, ... */
    int64_t arg2;
    struct repl_event rev;     /* SE_MSG */
    struct repl_position_entry *pos; /* SE_MSG update position, owned */
    struct sim_fetch_reply *fr;      /* SE_FETCH_REPLY, owned */
};

struct sim_req {
    int from, to;
    uint64_t from_inc;
    bool is_vote, dry_run, is_answered;
    int64_t term;
    int64_t sent_at;
};

struct sim_write {
    struct optime ot;
    int member;
    bool is_acked, is_done;
};

struct sim_member {
    struct repl_state st;
    bool is_up, is_paused;
    uint64_t inc;
    int64_t clock_offset, last_now;
    int64_t pause_until;
    /* Persisted election state (LastVote, term) and the lazily persisted commit point. */
    int64_t p_term, p_vote_term;
    int p_vote_cand;
    struct optime p_commit;
    int64_t p_commit_at;
    int64_t persist_busy_until; /* persistence jobs complete in order */
    struct sim_log log;
    /* Fetcher. */
    int source;
    int64_t fetch_gen;
    bool is_fetch_busy, is_rolling_back, is_fetch_stale;
    int64_t fetch_sent_at;
    /* The periodic no-op of an idle writable primary (node.c on_tick). */
    int64_t last_write_at;
    bool is_noop_in_flight, was_writable;
    /* Checks. */
    int64_t seen_term;
    struct optime seen_commit;
    bool is_ever_primary;
};

/* First appearance of an optime anywhere: the prefix it ended and its write. */
struct sim_seen {
    bool is_used;
    struct optime ot;
    uint64_t prefix_hash;
    int64_t write_id;
};

struct sim_ring_rec {
    int64_t at;
    int member;
    int kind;
    int64_t a, b, c;
};

struct sim_opts {
    uint64_t seed;
    int members;
    int64_t steps;
    bool trace;
    bool quiet;
    bool is_meta_first;        /* feed fetch metadata before the first-batch check (the glue before the fix) */
    bool is_position_without_term; /* replSetUpdatePosition without the sender's term (the glue before the fix) */
    bool is_stale_noop;        /* write a no-op even after losing the term it was for (node_persist.c before the fix) */
};

enum sim_result { SIM_PASS, SIM_FAIL, SIM_VACUOUS };

struct sim {
    struct sim_opts o;
    uint64_t prng;
    int n;
    struct repl_config cfg;
    struct sim_member m[SIM_MAX];
    int64_t now;
    uint64_t next_seq;
    int64_t step;
    struct sim_ev **heap;
    int heap_n, heap_cap;
    struct sim_req *reqs;
    int64_t n_reqs, cap_reqs;
    struct sim_write *writes;
    int64_t n_writes, cap_writes;
    /* Faults. */
    bool cut[SIM_MAX][SIM_MAX];     /* messages from a to b are dropped */
    int drop_pct, dup_pct, slow_pct;
    int crash_after_vote_pct;
    int slow_persist_pct;
    bool is_lazy_fsync;
    bool is_healed;
    int64_t heal_at, converge_deadline;
    int n_faults;
    /* Checks and outcome. */
    int64_t *primary_of_term;       /* member index + 1 per term, 0 = none */
    int64_t cap_terms;
    int n_primary_terms;
    int64_t n_acked;
    struct sim_seen *seen;          /* open addressing: every optime ever appended */
    int64_t seen_cap, seen_n;
    int n_noops_dropped;
    bool has_failed;
    char fail_msg[512];
    uint64_t trace_hash;
    struct sim_ring_rec ring[SIM_RING];
    int64_t ring_n;
    int last_primary;
    bool is_converged;
};

/* sim_world.c: PRNG, queue, network, trace. */
uint64_t sim_rand(struct sim *s);
int64_t sim_range(struct sim *s, int64_t lo, int64_t hi); /* uniform in [lo, hi] */
bool sim_pct(struct sim *s, int pct);
struct sim_ev *sim_ev_new(struct sim *s, enum sim_ev_kind kind, int member, int64_t at);
void sim_push(struct sim *s, struct sim_ev *e);
struct sim_ev *sim_pop(struct sim *s);
void sim_ev_free(struct sim_ev *e);
void sim_trace(struct sim *s, int member, int kind, int64_t a, int64_t b, int64_t c);
int64_t sim_member_now(struct sim *s, int k);
/* Sends ev (a copy) from member `from` to member `to` over the network. */
void sim_send(struct sim *s, int from, int to, const struct repl_event *ev, const struct repl_position_entry *pos,
              int n_pos);
/* Registers a request and sends it; returns its id. */
void sim_send_request(struct sim *s, int from, int to, const struct repl_action *a);
void sim_route_reply(struct sim *s, int k, const struct repl_action *a);
bool sim_link_ok(struct sim *s, int from, int to);
int64_t sim_net_delay(struct sim *s);

/* sim_member.c: members, actions, the glue model. */
void sim_member_boot(struct sim *s, int k, bool is_first);
void sim_member_crash(struct sim *s, int k, const char *why);
/* Runs one core event on member k and carries out its actions. */
void sim_feed(struct sim *s, int k, struct repl_event *ev);
void sim_handle(struct sim *s, struct sim_ev *e);
void sim_client_write(struct sim *s, int k);
const struct sim_op *sim_log_find(const struct sim_log *l, struct optime ot);

/* sim_check.c: invariants. */
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_check_after_step(struct sim *s, int k);
void sim_check_append(struct sim *s, int k, const struct sim_op *op, const struct sim_op *prev);
void sim_check_truncate(struct sim *s, int k, int new_n);
void sim_check_new_primary(struct sim *s, int k, int64_t term);
void sim_check_restart(struct sim *s, int k);
void sim_check_final(struct sim *s);
bool sim_is_converged(struct sim *s);
void sim_print_failure(struct sim *s);

/* sim_run.c */
enum sim_result sim_run(const struct sim_opts *o, uint64_t *trace_hash, char *why, size_t why_cap);

#endif
