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

    /* Digest 1.6 step 2: target = newest lastApplied any member reported; 0 = skip catch-up. */
    int64_t timeout = st->config.settings.catch_up_timeout_ms;
    st->catch_up_target = st->applied;
    if (timeout != 0) {
        for (int i = 0; i < st->config.n_members; i++)
            if (i != st->self && st->peers[i].is_up && optime_compare(st->peers[i].applied, st->catch_up_target) > 0)
                st->catch_up_target = st->peers[i].applied;
    }
    st->catch_up_deadline_ms = timeout < 0 ? -1 : st->now_ms + timeout;
    /* A fresh round of heartbeats announces us and refreshes the catch-up target. */
    repl_hb_send_all(st, out);
    repl_sync_choose(st, out);
    repl_leader_check_catch_up(st, out);
}

void repl_leader_check_catch_up(struct repl_state *st, struct repl_actions *out)
{
    if (st->member_state != REPL_PRIMARY || st->leader_mode != REPL_LEADER_CATCHING_UP)
        return;
    const char *why = NULL;
    if (optime_compare(st->applied, st->catch_up_target) >= 0)
        why = "caught up to the newest optime seen";
    else if (st->catch_up_deadline_ms >= 0 && st->now_ms >= st->catch_up_deadline_ms)
        why = "catch-up timed out";
    if (!why)
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
