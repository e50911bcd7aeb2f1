/* election.c - the candidate side of pv1 elections (digest 1.1-1.3, 1.5):
 * the election timer with its random offset, the dry run with the current
 * term, term+1 with a persisted self-vote, the real round, vote counting, and
 * the single-node prompt election.
 *
 * Guarantees: only a SECONDARY stands (REPL_ASSERT); a dry run never changes
 * any term; the real round's requests leave only after our own LastVote is
 * durable (REPL_EV_PERSISTED); a win needs majorityVoteCount yes votes of the
 * current config, self included. */
#include "repl/core_internal.h"

#include <string.h>

void repl_elect_reset_timer(struct repl_state *st)
{
    /* Digest 1.1: only electable secondaries run the timer; electionTimeout + [0, 0.15 eT). */
    if (!st->has_config || st->member_state != REPL_SECONDARY || !repl_core_is_electable(st, st->self)) {
        st->election_deadline_ms = -1;
        return;
    }
    st->election_deadline_ms = st->now_ms + st->config.settings.election_timeout_ms + repl_core_election_offset(st);
}

static void finish_step_up(struct repl_state *st, struct repl_actions *out, int code, const char *msg)
{
    if (!st->has_step_up_request)
        return;
    struct repl_action *a = repl_core_push(out, REPL_ACT_COMMAND_RESULT, -1);
    a->request_id = st->step_up_request_id;
    a->result.code = code;
    snprintf(a->result.msg, sizeof a->result.msg, "%s", msg);
    st->has_step_up_request = false;
}

void repl_elect_cancel(struct repl_state *st, struct repl_actions *out, const char *why)
{
    if (st->phase == REPL_ELECT_NONE)
        return;
    repl_core_log(st, out, "1.3", "election (%s) in term %lld lost or abandoned: %s",
                  st->phase == REPL_ELECT_DRY_RUN ? "dry run" : "real", (long long)st->elect_term, why);
    st->phase = REPL_ELECT_NONE;
    finish_step_up(st, out, -ERR_COMMAND_FAILED, "Election failed.");
    repl_elect_reset_timer(st);
}

static void send_requests(struct repl_state *st, struct repl_actions *out, bool dry_run)
{
    memset(st->voted_yes, 0, sizeof st->voted_yes);
    memset(st->responded, 0, sizeof st->responded);
    st->voted_yes[st->self] = true;
    st->responded[st->self] = true;
    st->n_votes_yes = 1;
    for (int i = 0; i < st->config.n_members; i++) {
        if (i == st->self || st->config.members[i].votes <= 0)
            continue;
        struct repl_action *a = repl_core_push(out, REPL_ACT_SEND_VOTE_REQUEST, i);
        struct repl_vote_request *r = &a->vote_request;
        snprintf(r->set_name, sizeof r->set_name, "%s", st->config.set_name);
        r->dry_run = dry_run;
        r->term = st->elect_term;
        r->candidate_index = st->self;
        r->config_version = st->config.version;
        r->config_term = st->config.term;
        r->last_applied = st->applied;
    }
}

static void check_outcome(struct repl_state *st, struct repl_actions *out);

/* Digest 1.3 step 2: term+1, vote for self, persist before asking anyone. */
static void start_real_round(struct repl_state *st, struct repl_actions *out)
{
    if (st->term != st->elect_start_term) {
        repl_elect_cancel(st, out, "term changed during the dry run");
        return;
    }
    int64_t old = st->term;
    st->term = st->term + 1;
    REPL_ASSERT(st->term > old);
    REPL_ASSERT(st->last_vote_term < st->term);
    st->last_vote_term = st->term;
    st->last_vote_candidate = st->self;
    st->primary_index = -1;
    st->elect_term = st->term;
    st->phase = REPL_ELECT_PERSISTING;
    st->elect_persist_seq = repl_core_persist_vote(st, out);
    repl_core_log(st, out, "1.3", "dry run won; standing in term %lld, persisting our own vote",
                  (long long)st->term);
}

void repl_elect_start(struct repl_state *st, struct repl_actions *out, enum repl_election_reason reason,
                      bool skip_dry_run)
{
    /* Digest 1.2: only a SECONDARY stands. */
    REPL_ASSERT(st->member_state == REPL_SECONDARY);
    REPL_ASSERT(st->phase == REPL_ELECT_NONE);
    st->elect_reason = reason;
    st->elect_start_term = st->term;
    st->elect_term = st->term;
    int64_t et = st->config.settings.election_timeout_ms;
    st->elect_deadline_ms = st->now_ms + (et < 30000 ? et : 30000);
    st->election_deadline_ms = -1;
    st->takeover_deadline_ms = -1;
    repl_core_log(st, out, "1.3", "starting an election (%s) from term %lld", repl_election_reason_str(reason),
                  (long long)st->term);
    if (skip_dry_run) {
        start_real_round(st, out);
        return;
    }
    /* Digest 1.3 step 1: the dry run carries the current term; nobody records anything. */
    st->phase = REPL_ELECT_DRY_RUN;
    send_requests(st, out, true);
    check_outcome(st, out);
}

static void win(struct repl_state *st, struct repl_actions *out)
{
    /* Digest 1.3 step 5: responders are alive, so the new primary keeps its majority. */
    for (int i = 0; i < st->config.n_members; i++)
        if (i != st->self && st->responded[i])
            st->peers[i].last_update_ms = st->now_ms;
    st->phase = REPL_ELECT_NONE;
    st->last_election_reason = st->elect_reason;
    repl_core_log(st, out, "1.3", "won the election for term %lld with %d votes (needed %d)", (long long)st->term,
                  st->n_votes_yes, repl_core_majority_votes(st));
    repl_leader_on_win(st, out);
    finish_step_up(st, out, 0, "");
}

static void check_outcome(struct repl_state *st, struct repl_actions *out)
{
    int need = repl_core_majority_votes(st);
    if (st->n_votes_yes >= need) {
        if (st->phase == REPL_ELECT_DRY_RUN)
            start_real_round(st, out);
        else if (st->phase == REPL_ELECT_REAL)
            win(st, out);
        return;
    }
    for (int i = 0; i < st->config.n_members; i++)
        if (st->config.members[i].votes > 0 && !st->responded[i])
            return;
    repl_elect_cancel(st, out, "not enough votes");
}

void repl_elect_on_persisted(struct repl_state *st, struct repl_actions *out)
{
    if (st->phase != REPL_ELECT_PERSISTING || st->persisted_seq < st->elect_persist_seq)
        return;
    if (st->term != st->elect_term || st->member_state != REPL_SECONDARY) {
        repl_elect_cancel(st, out, "term or state changed while persisting our vote");
        return;
    }
    st->phase = REPL_ELECT_REAL;
    send_requests(st, out, false);
    check_outcome(st, out);
}

void repl_elect_on_response(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    int i = ev->peer;
    if (st->phase != REPL_ELECT_DRY_RUN && st->phase != REPL_ELECT_REAL)
        return;
    bool is_dry = st->phase == REPL_ELECT_DRY_RUN;
    /* Only answers to the round in progress count. */
    if (ev->vote_dry_run != is_dry || ev->vote_term != st->elect_term || st->responded[i])
        return;
    st->responded[i] = true;
    if (ev->type == REPL_EV_VOTE_RESPONSE) {
        const struct repl_vote_response *r = &ev->vote_response;
        if (r->term > st->term) {
            /* Digest 1.3 step 4: a response with a higher term ends the election. */
            repl_core_update_term(st, out, r->term, "vote response");
            return;
        }
        if (r->vote_granted && st->config.members[i].votes > 0) {
            st->voted_yes[i] = true;
            st->n_votes_yes++;
        } else {
            repl_core_log(st, out, "1.4", "%s vote refused by %s: %s", is_dry ? "dry-run" : "real",
                          st->config.members[i].host, r->reason);
        }
    }
    check_outcome(st, out);
}

void repl_elect_on_tick(struct repl_state *st, struct repl_actions *out)
{
    if (st->phase != REPL_ELECT_NONE) {
        if (st->now_ms >= st->elect_deadline_ms)
            repl_elect_cancel(st, out, "vote requests timed out");
        return;
    }
    if (st->member_state != REPL_SECONDARY || !repl_core_is_electable(st, st->self))
        return;
    /* Digest 1.5: a lone voter elects itself at once. */
    if (repl_core_n_voters(st) == 1 && repl_unelectable_reason(st, false) == NULL) {
        repl_elect_start(st, out, REPL_REASON_SINGLE_NODE, false);
        return;
    }
    if (st->election_deadline_ms < 0 || st->now_ms < st->election_deadline_ms)
        return;
    if (st->election_sleep_until_ms > st->now_ms) {
        repl_core_log(st, out, "1.1", "not standing: adopted a newer term less than an election timeout ago");
        repl_elect_reset_timer(st);
        return;
    }
    const char *why = repl_unelectable_reason(st, false);
    if (why) {
        repl_core_log(st, out, "1.2", "election timeout fired but not standing: %s", why);
        repl_elect_reset_timer(st);
        return;
    }
    repl_elect_start(st, out, REPL_REASON_ELECTION_TIMEOUT, false);
}
