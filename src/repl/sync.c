/* sync.c - sync-source choice (digest 3.2, simplified) and the upstream
 * progress reports (3.4).
 *
 * Choice: with chaining disabled only the primary; otherwise the closest up
 * PRIMARY/SECONDARY strictly ahead of us (first pass: not hidden, a voter if we
 * vote, no larger secondaryDelaySecs than ours; second pass relaxed), preferring
 * the primary when within 5 ms of the closest. A leader-elect catching up takes
 * the freshest member ahead of it, ignoring chaining (1.6). Pings, RBID probes,
 * deny lists and maxSyncSourceLagSecs belong to the I/O layer's fetcher.
 * Guarantees: SYNC_SOURCE is emitted only when the choice changes. */
#include "repl/core_internal.h"

#define CHANGE_SYNC_SOURCE_THRESHOLD_MS 5

static bool may_fetch(const struct repl_state *st)
{
    if (!st->has_config || st->self < 0 || st->config.members[st->self].is_arbiter)
        return false;
    switch (st->member_state) {
    case REPL_SECONDARY:
    case REPL_RECOVERING:
    case REPL_STARTUP2:
        return true;
    case REPL_PRIMARY:
        return st->leader_mode == REPL_LEADER_CATCHING_UP;
    default:
        return false;
    }
}

static bool is_candidate(const struct repl_state *st, int i, bool first_pass)
{
    const struct repl_peer *p = &st->peers[i];
    if (i == st->self || !p->is_up || !repl_core_is_data_bearing(st, i))
        return false;
    if (p->state != REPL_PRIMARY && p->state != REPL_SECONDARY)
        return false;
    if (optime_compare(p->applied, st->applied) <= 0)
        return false;
    if (first_pass) {
        const struct repl_member *m = &st->config.members[i], *me = &st->config.members[st->self];
        if (m->is_hidden || (me->votes > 0 && m->votes <= 0) || m->secondary_delay_secs > me->secondary_delay_secs)
            return false;
    }
    return true;
}

static int closest(const struct repl_state *st, bool first_pass)
{
    int best = -1;
    for (int i = 0; i < st->config.n_members; i++) {
        if (!is_candidate(st, i, first_pass))
            continue;
        int64_t ping = st->peers[i].ping_ms < 0 ? INT64_MAX / 2 : st->peers[i].ping_ms;
        int64_t best_ping = best < 0 ? INT64_MAX : (st->peers[best].ping_ms < 0 ? INT64_MAX / 2 : st->peers[best].ping_ms);
        if (ping < best_ping)
            best = i;
    }
    int p = st->primary_index;
    if (best >= 0 && p >= 0 && p != best && is_candidate(st, p, first_pass) && st->peers[p].ping_ms >= 0 &&
        st->peers[best].ping_ms >= 0 && st->peers[p].ping_ms - st->peers[best].ping_ms <= CHANGE_SYNC_SOURCE_THRESHOLD_MS)
        best = p;
    return best;
}

static int choose(const struct repl_state *st)
{
    if (!may_fetch(st))
        return -1;
    if (st->member_state == REPL_PRIMARY) {
        int best = -1;
        for (int i = 0; i < st->config.n_members; i++)
            if (is_candidate(st, i, false) && (best < 0 || optime_compare(st->peers[i].applied, st->peers[best].applied) > 0))
                best = i;
        return best;
    }
    int cur = st->sync_source;
    bool is_chaining = st->config.settings.is_chaining_allowed;
    if (!is_chaining) {
        int p = st->primary_index;
        return p >= 0 && p != st->self && is_candidate(st, p, false) ? p : (cur == p ? cur : -1);
    }
    /* Keep the current source while it is usable: up, a data member, and the primary or ahead of us. */
    if (cur >= 0 && cur != st->self && st->peers[cur].is_up &&
        (st->peers[cur].state == REPL_PRIMARY ||
         (st->peers[cur].state == REPL_SECONDARY && optime_compare(st->peers[cur].applied, st->applied) >= 0)))
        return cur;
    int best = closest(st, true);
    return best >= 0 ? best : closest(st, false);
}

void repl_sync_choose(struct repl_state *st, struct repl_actions *out)
{
    int next = choose(st);
    if (next == st->sync_source)
        return;
    st->sync_source = next;
    repl_core_push(out, REPL_ACT_SYNC_SOURCE, next);
    if (next >= 0)
        repl_core_log(st, out, "3.2", "sync source is now %s", st->config.members[next].host);
    else
        repl_core_log(st, out, "3.2", "no sync source");
}

void repl_sync_maybe_report(struct repl_state *st, struct repl_actions *out, bool force)
{
    if (!st->has_config || st->self < 0 || st->sync_source < 0)
        return;
    if (st->member_state != REPL_SECONDARY && st->member_state != REPL_RECOVERING &&
        st->member_state != REPL_ROLLBACK)
        return;
    /* Digest 3.4: on every advance, and every electionTimeout/2 as a keep-alive. */
    if (!force && st->last_position_sent_ms >= 0 &&
        st->now_ms - st->last_position_sent_ms < st->config.settings.election_timeout_ms / 2)
        return;
    st->last_position_sent_ms = st->now_ms;
    repl_core_push(out, REPL_ACT_SEND_UPDATE_POSITION, st->sync_source);
}
