/* core_internal.h - functions shared between the files of the pure core
 * (src/repl/{repl_state,step,heartbeat,election,vote,commit,takeover,stepdown,
 * leader,sync}.c). Not for use outside the core: callers use core.h. */
#ifndef TALLY_REPL_CORE_INTERNAL_H
#define TALLY_REPL_CORE_INTERNAL_H

#include "repl/core.h"

#include <assert.h>

/* Invariants of replicated state stay checked in release builds (STYLE.md). */
#define REPL_ASSERT(cond)                                                                                  \
    do {                                                                                                   \
        if (!(cond))                                                                                       \
            repl_core_assert_fail(#cond, __FILE__, __LINE__);                                              \
    } while (0)

void repl_core_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* repl_state.c */
struct repl_action *repl_core_push(struct repl_actions *out, enum repl_action_type type, int target);
void repl_core_log(struct repl_state *st, struct repl_actions *out, const char *rule, const char *fmt, ...)
    BSON_GNUC_PRINTF(4, 5);
/* The one place member_state changes; asserts the edge is legal, emits ROLE_CHANGE. */
void repl_core_transition(struct repl_state *st, struct repl_actions *out, enum repl_member_state to,
                          const char *reason);
/* Adopts a higher term (digest 1.1, 1.7): steps down a primary, cancels an
 * election, sleeps one election timeout. Returns true when the term changed. */
bool repl_core_update_term(struct repl_state *st, struct repl_actions *out, int64_t term, const char *why);
/* Emits PERSIST_VOTE for the current term and last vote; returns its sequence. */
uint64_t repl_core_persist_vote(struct repl_state *st, struct repl_actions *out);
uint64_t repl_core_rand(struct repl_state *st);
/* Uniform offset in [0, 0.15 * electionTimeout) (digest 1.1). */
int64_t repl_core_election_offset(struct repl_state *st);
void repl_core_install_config(struct repl_state *st, struct repl_actions *out, const struct repl_config *cfg);
int repl_core_n_voters(const struct repl_state *st);
int repl_core_majority_votes(const struct repl_state *st);
int repl_core_write_majority(const struct repl_state *st);
bool repl_core_is_electable(const struct repl_state *st, int i);
bool repl_core_is_data_bearing(const struct repl_state *st, int i);
int repl_core_member_id(const struct repl_state *st, int i);
int repl_core_index_of_id(const struct repl_state *st, int id);
/* Leaves PRIMARY (or an election) for SECONDARY with reason; clears leader state. */
void repl_core_step_down(struct repl_state *st, struct repl_actions *out, const char *reason);

/* heartbeat.c */
void repl_hb_on_tick(struct repl_state *st, struct repl_actions *out);
void repl_hb_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_hb_on_response(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_hb_on_failure(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_hb_send_all(struct repl_state *st, struct repl_actions *out);
bool repl_hb_sees_majority(const struct repl_state *st, bool use_liveness);
void repl_hb_check_liveness(struct repl_state *st, struct repl_actions *out);

/* election.c */
void repl_elect_reset_timer(struct repl_state *st);
void repl_elect_start(struct repl_state *st, struct repl_actions *out, enum repl_election_reason reason,
                      bool skip_dry_run);
void repl_elect_cancel(struct repl_state *st, struct repl_actions *out, const char *why);
void repl_elect_on_tick(struct repl_state *st, struct repl_actions *out);
void repl_elect_on_response(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_elect_on_persisted(struct repl_state *st, struct repl_actions *out);

/* vote.c */
void repl_vote_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_vote_on_persisted(struct repl_state *st, struct repl_actions *out);

/* leader.c */
void repl_leader_on_win(struct repl_state *st, struct repl_actions *out);
void repl_leader_check_catch_up(struct repl_state *st, struct repl_actions *out);
/* Ends catch-up now (why: for the log) and asks for the new-term no-op. */
void repl_leader_end_catch_up(struct repl_state *st, struct repl_actions *out, const char *why);
void repl_leader_on_noop(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);

/* commit.c */
void repl_commit_recompute(struct repl_state *st, struct repl_actions *out);
void repl_commit_learn(struct repl_state *st, struct repl_actions *out, struct optime cp, bool from_sync_source);
void repl_commit_on_update_position(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);

/* takeover.c */
void repl_takeover_on_primary_seen(struct repl_state *st, int primary);
void repl_takeover_on_tick(struct repl_state *st, struct repl_actions *out);
bool repl_takeover_is_fresh_enough(const struct repl_state *st);

/* stepdown.c */
void repl_stepdown_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_stepdown_check(struct repl_state *st, struct repl_actions *out);
void repl_stepdown_on_freeze(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
void repl_stepdown_on_step_up(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out);
/* Answers a waiting replSetStepDown (e.g. when a higher term deposed us). */
void repl_stepdown_finish(struct repl_state *st, struct repl_actions *out, int code, const char *msg);

/* sync.c */
void repl_sync_choose(struct repl_state *st, struct repl_actions *out);
void repl_sync_maybe_report(struct repl_state *st, struct repl_actions *out, bool force);
/* The fetcher could not fetch from peer i: deny it as a source for a while and choose again. */
void repl_sync_on_failure(struct repl_state *st, int i, struct repl_actions *out);
/* replSetSyncFrom: take peer i as the next source when it is usable. */
void repl_sync_force(struct repl_state *st, int i, struct repl_actions *out);

#endif
