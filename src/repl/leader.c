/* leader.c - becoming primary (digest 1.6): the win, catch-up to the newest
 * optime seen in heartbeats (bounded by catchUpTimeoutMillis), the new-term
 * no-op, and only then the writable primary.
 *
 * Guarantees: a leader-elect is never writable; leader_mode becomes WRITABLE
 * only on NOOP_WRITTEN for our current term, which also fixes
 * first_optime_of_term (the commit point never passes older-term entries before
 * that no-op commits, see commit.c). */
#include "repl/core_internal.h"

void repl_leader_on_win(struct repl_state *st, struct repl_actions *out)
{
    repl_core_transition(st, out, REPL_PRIMARY, "won the election");
    st->leader_mode = REPL_LEADER_CATCHING_UP;
    st->primary_index = st->self;
    st->election_time = ((uint64_t)(st->now_ms / 1000) << 32) | 1u;
    st->election_date_ms = st->now_ms;
    st->first_optime_of_term = OPTIME_NULL;
    st->takeover_deadline_ms = -1;
    st->wmajority_available_ms = -1;

    /* Digest 1.6 step 2: the target comes from heartbeat responses received
     * after this win (repl_leader_check_catch_up); 0 = skip catch-up. */
    int64_t timeout = st->config.settings.catch_up_timeout_ms;
    st->catch_up_target = st->applied;
    st->catch_up_deadline_ms = timeout < 0 ? -1 : st->now_ms + timeout;
    /* A fresh round of heartbeats announces us and refreshes the catch-up target. */
    repl_hb_send_all(st, out);
    repl_sync_choose(st, out);
    repl_leader_check_catch_up(st, out);
}

/* Digest 1.6 (latestKnownOpTimeSinceHeartbeatRestart): the catch-up target
 * is the newest lastApplied among members that answered a heartbeat since we
 * won. Views older than the win are ignored: a member killed just before the
 * election still looks up, with an optime nobody reachable holds, and
 * waiting for it would keep the new primary unwritable. The target also
 * falls when a member loses entries (rollback, crash). Returns whether the
 * target is known: every member that was answering before the win (within
 * two heartbeat intervals) has answered or failed a heartbeat since, or one
 * heartbeat interval has passed (a member that neither answers nor fails is
 * partitioned or paused; waiting longer would only delay writes). A member
 * silent since before the win (the dead primary that caused the election) is
 * not waited for. */
static bool refresh_catch_up_target(struct repl_state *st)
{
    int64_t since = st->election_date_ms;
    int64_t hb = st->config.settings.heartbeat_interval_ms;
    bool is_all_heard = true;
    if (st->config.settings.catch_up_timeout_ms == 0) {
        st->catch_up_target = st->applied;
        return true;
    }
    st->catch_up_target = st->applied;
    for (int i = 0; i < st->config.n_members; i++) {
        const struct repl_peer *p = &st->peers[i];
        if (i == st->self)
            continue;
        if (p->last_response_ms >= since && p->is_up) {
            /* Only an optime with a later timestamp can extend our log: one
             * newer by term alone lies on a branch we diverged from, which a
             * primary cannot fetch (it would wait for it forever). */
            if (optime_compare(p->applied, st->catch_up_target) > 0 && p->applied.ts > st->applied.ts)
                st->catch_up_target = p->applied;
        } else if (p->is_up && p->last_failure_ms < since && p->last_response_ms >= since - 2 * hb) {
            is_all_heard = false;
        }
    }
    return is_all_heard || st->now_ms - since >= hb;
}

void repl_leader_check_catch_up(struct repl_state *st, struct repl_actions *out)
{
    if (st->member_state != REPL_PRIMARY || st->leader_mode != REPL_LEADER_CATCHING_UP)
        return;
    bool is_target_known = refresh_catch_up_target(st);
    const char *why = NULL;
    if (is_target_known && optime_compare(st->applied, st->catch_up_target) >= 0)
        why = "caught up to the newest optime seen";
    else if (st->catch_up_deadline_ms >= 0 && st->now_ms >= st->catch_up_deadline_ms)
        why = "catch-up timed out";
    if (why)
        repl_leader_end_catch_up(st, out, why);
}

void repl_leader_end_catch_up(struct repl_state *st, struct repl_actions *out, const char *why)
{
    if (st->member_state != REPL_PRIMARY || st->leader_mode != REPL_LEADER_CATCHING_UP)
        return;
    /* Digest 1.6 steps 3-4: drain (the I/O layer applies what it fetched), then the no-op. */
    st->leader_mode = REPL_LEADER_AWAITING_NOOP;
    st->catch_up_deadline_ms = -1;
    repl_core_log(st, out, "1.6", "leader-elect %s; writing the new-term no-op in term %lld", why,
                  (long long)st->term);
    repl_sync_choose(st, out);
    struct repl_action *a = repl_core_push(out, REPL_ACT_WRITE_NOOP, -1);
    a->noop_term = st->term;
}

void repl_leader_on_noop(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    struct optime noop = ev->noop_optime;
    if (st->member_state != REPL_PRIMARY || st->leader_mode != REPL_LEADER_AWAITING_NOOP || noop.term != st->term) {
        repl_core_log(st, out, "1.6", "ignoring a no-op written in term %lld (state %s, term %lld)",
                      (long long)noop.term, repl_member_state_str(st->member_state), (long long)st->term);
        return;
    }
    st->first_optime_of_term = noop;
    if (optime_compare(noop, st->applied) > 0)
        st->applied = noop;
    st->leader_mode = REPL_LEADER_WRITABLE;
    repl_core_log(st, out, "1.6", "new-term no-op written at {ts: %u|%u, t: %lld}; primary is writable",
                  optime_secs(noop), optime_inc(noop), (long long)noop.term);
    repl_commit_recompute(st, out);
}
