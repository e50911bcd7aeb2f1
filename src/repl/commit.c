/* commit.c - the commit point: computed on the primary from members' durable
 * optimes (digest 3.5, with the stricter same-term rule), learned by
 * secondaries from heartbeats and sync-source metadata (3.6), and members'
 * progress from replSetUpdatePosition (3.4).
 *
 * Guarantees: the commit point never moves backwards (REPL_ASSERT); on a
 * primary it never lands before first_optime_of_term; only optimes in the
 * primary's current term are counted; a secondary accepts a heartbeat commit
 * point only in the term of its own last applied entry, capped at that entry. */
#include "repl/core_internal.h"

#include <stdio.h>
#include <stdlib.h>

static void advance(struct repl_state *st, struct repl_actions *out, struct optime cp, const char *how)
{
    if (optime_compare(cp, st->commit_point) <= 0)
        return;
    struct optime old = st->commit_point;
    st->commit_point = cp;
    REPL_ASSERT(optime_compare(st->commit_point, old) > 0);
    struct repl_action *a = repl_core_push(out, REPL_ACT_COMMIT_ADVANCED, -1);
    a->commit_point = cp;
    repl_core_log(st, out, "3.5", "commit point advanced to {ts: %u|%u, t: %lld} (%s)", optime_secs(cp),
                  optime_inc(cp), (long long)cp.term, how);
}

static int cmp_desc(const void *a, const void *b)
{
    return -optime_compare(*(const struct optime *)a, *(const struct optime *)b);
}

void repl_commit_recompute(struct repl_state *st, struct repl_actions *out)
{
    if (st->member_state != REPL_PRIMARY || optime_is_null(st->first_optime_of_term))
        return;
    bool use_durable = st->config.is_write_concern_majority_journal_default;
    struct optime v[REPL_MAX_MEMBERS];
    int n = 0;
    for (int i = 0; i < st->config.n_members; i++) {
        /* Digest 3.5: voting members only; arbiters report null and never count. */
        if (st->config.members[i].votes <= 0 || st->config.members[i].is_arbiter)
            continue;
        struct optime applied, durable;
        repl_member_optimes(st, i, &applied, &durable);
        struct optime o = use_durable ? durable : applied;
        /* Stricter rule (3.5, pitfall 10.2.4): count only optimes of the primary's current term. */
        if (o.term != st->term)
            continue;
        v[n++] = o;
    }
    int wm = repl_core_write_majority(st);
#ifdef TALLY_MUTATION_COMMIT_WITHOUT_MAJORITY
    /* Simulator mutant only (README "Mutations"): the primary's own write commits. */
    wm = 1;
#endif
    if (wm <= 0 || n < wm)
        return;
    qsort(v, (size_t)n, sizeof v[0], cmp_desc);
    struct optime cand = v[wm - 1];
    /* Never before the new-term no-op (Raft Fig. 8, digest 1.6 step 4). */
    if (optime_compare(cand, st->first_optime_of_term) < 0)
        return;
    if (st->wmajority_available_ms < 0)
        st->wmajority_available_ms = st->now_ms;
    advance(st, out, cand, "majority of voting data-bearing members");
}

void repl_commit_learn(struct repl_state *st, struct repl_actions *out, struct optime cp, bool from_sync_source)
{
    if (st->member_state == REPL_PRIMARY || optime_is_null(cp) || optime_compare(cp, st->commit_point) <= 0)
        return;
    /* Digest 3.6: arbiters have no oplog and take the commit point unconditionally. */
    if (st->member_state == REPL_ARBITER) {
        advance(st, out, cp, "arbiter learned from heartbeat");
        return;
    }
    if (!from_sync_source) {
        /* Heartbeats: only on the same branch as our last applied entry, never past it. */
        if (cp.term != st->applied.term)
            return;
        if (optime_compare(cp, st->applied) > 0)
            cp = st->applied;
        advance(st, out, cp, "learned from heartbeat");
        return;
    }
    /* Sync source: accept, but never beyond our last entry when the terms differ. */
    if (cp.term != st->applied.term && optime_compare(cp, st->applied) > 0)
        cp = st->applied;
    advance(st, out, cp, "learned from sync source");
}

static void reply(struct repl_actions *out, uint64_t request_id, int target, int code, const char *msg)
{
    struct repl_action *a = repl_core_push(out, REPL_ACT_COMMAND_RESULT, target);
    a->request_id = request_id;
    a->result.code = code;
    snprintf(a->result.msg, sizeof a->result.msg, "%s", msg);
}

void repl_commit_on_update_position(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (!st->has_config || st->self < 0) {
        reply(out, ev->request_id, ev->peer, -ERR_NOT_YET_INITIALIZED, "no replica set config");
        return;
    }
    /* Digest 3.4, 3.5 (TLA+ AdvanceCommitPoint): a reporter in a newer term
     * deposes us before its optimes could count towards our commit point. */
    repl_core_update_term(st, out, ev->update_position.term, "replSetUpdatePosition");
    const struct repl_position_entry *v = ev->update_position.entries;
    for (int k = 0; v && k < ev->update_position.n_entries; k++) {
        int i = repl_core_index_of_id(st, v[k].member_id);
        if (i < 0) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "Received replSetUpdatePosition for node with memberId %d which doesn't exist in our config",
                     v[k].member_id);
            reply(out, ev->request_id, ev->peer, -ERR_NODE_NOT_FOUND, msg);
            return;
        }
        if (i == st->self)
            continue;
        struct repl_peer *p = &st->peers[i];
        /* Digest 3.4: optimes only move forward; an arbiter's are forced to null. */
        struct optime applied = st->config.members[i].is_arbiter ? OPTIME_NULL : v[k].applied;
        struct optime durable = st->config.members[i].is_arbiter ? OPTIME_NULL : v[k].durable;
        bool is_news = i == ev->peer;
        if (optime_compare(applied, p->applied) > 0) {
            p->applied = applied;
            p->applied_wall_ms = v[k].applied_wall_ms;
            is_news = true;
        }
        if (optime_compare(durable, p->durable) > 0) {
            p->durable = durable;
            p->durable_wall_ms = v[k].durable_wall_ms;
            is_news = true;
        }
        /* Liveness is transitive through chains (digest 1.7), but only for
         * news: a secondary forwards what it last knew of every member, and
         * an entry that moves nothing says nothing about whether that member
         * is still alive (a primary cut off with one secondary of its own
         * site would otherwise stay writable until heartbeatTimeoutSecs). */
        if (is_news)
            p->last_update_ms = st->now_ms;
    }
    reply(out, ev->request_id, ev->peer, 0, "");
    if (st->member_state == REPL_PRIMARY) {
        repl_leader_check_catch_up(st, out);
        repl_commit_recompute(st, out);
        repl_stepdown_check(st, out);
    } else {
        repl_sync_maybe_report(st, out, true);
    }
}
