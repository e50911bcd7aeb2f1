/* sync.c - sync-source choice (digest 3.2, simplified) and the upstream
 * progress reports (3.4).
 *
 * Choice: with chaining disabled only the primary; otherwise the closest up
 * PRIMARY/SECONDARY strictly ahead of us (first pass: not hidden, a voter if we
 * vote, no larger secondaryDelaySecs than ours; second pass relaxed), preferring
 * the primary when within 5 ms of the closest. A leader-elect catching up takes
 * the freshest member ahead of it, ignoring chaining (1.6).
 *
 * Replacement: the current source is kept while it is up, not denied, PRIMARY
 * or SECONDARY, and (a secondary) neither syncing from us nor more than
 * SYNC_SOURCE_MAX_LAG_MS behind the freshest candidate. Heartbeats alone
 * notice a dead member only after heartbeatTimeoutSecs, so the fetcher
 * reports every failed fetch (REPL_EV_SYNC_SOURCE_FAILED): that member is
 * denied as a source for one electionTimeout and another is chosen at once;
 * when there is no other, the denied one stays (fetching from nothing is
 * never better). replSetSyncFrom (REPL_EV_SYNC_FROM) makes a member the next
 * choice once it is usable (the request waits up to one electionTimeout);
 * with chaining off the primary takes over again at the next choice. RBID
 * probes belong to the fetcher.
 * Guarantees: SYNC_SOURCE is emitted only when the choice changes. */
#include "repl/core_internal.h"

#define CHANGE_SYNC_SOURCE_THRESHOLD_MS 5
/* mongod's maxSyncSourceLagSecs default. */
#define SYNC_SOURCE_MAX_LAG_MS 30000

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

static bool is_denied(const struct repl_state *st, int i)
{
    return st->peers[i].sync_deny_until_ms > st->now_ms;
}

/* Up, a data member in a state that serves its oplog, and not a secondary
 * that syncs from us (a cycle never makes progress; but a leader-elect
 * catching up may fetch from a secondary that syncs from it: that secondary
 * holds what the leader lacks, and only waits for entries the leader will
 * write after catch-up); ignores the deny list. */
static bool is_serving(const struct repl_state *st, int i)
{
    if (i < 0 || i >= st->config.n_members || i == st->self)
        return false;
    const struct repl_peer *p = &st->peers[i];
    if (!p->is_up || !repl_core_is_data_bearing(st, i))
        return false;
    if (p->state == REPL_PRIMARY)
        return true;
    if (p->state != REPL_SECONDARY)
        return false;
    return st->member_state == REPL_PRIMARY || p->sync_source_id != repl_core_member_id(st, st->self);
}

static bool is_candidate(const struct repl_state *st, int i, bool first_pass)
{
    const struct repl_peer *p = &st->peers[i];
    if (!is_serving(st, i) || is_denied(st, i))
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

/* The newest applied wall time among the members that could serve us. */
static int64_t freshest_wall_ms(const struct repl_state *st)
{
    int64_t best = st->applied_wall_ms;
    for (int i = 0; i < st->config.n_members; i++)
        if (is_serving(st, i) && !is_denied(st, i) && st->peers[i].applied_wall_ms > best)
            best = st->peers[i].applied_wall_ms;
    return best;
}

/* Keep the current source while it serves, is not denied, and (a secondary)
 * does not lag the freshest member by more than SYNC_SOURCE_MAX_LAG_MS. Its
 * heartbeat optime alone says little: it trails what we fetched from it. */
static bool is_usable(const struct repl_state *st, int cur)
{
    if (!is_serving(st, cur) || is_denied(st, cur))
        return false;
    if (st->peers[cur].state == REPL_PRIMARY)
        return true;
    return st->peers[cur].applied_wall_ms + SYNC_SOURCE_MAX_LAG_MS >= freshest_wall_ms(st);
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
    if (st->forced_sync_source_until_ms > st->now_ms && is_serving(st, st->forced_sync_source) &&
        !is_denied(st, st->forced_sync_source))
        return st->forced_sync_source;
    bool is_chaining = st->config.settings.is_chaining_allowed;
    if (!is_chaining) {
        int p = st->primary_index;
        if (p >= 0 && p != st->self && is_candidate(st, p, false))
            return p;
        return cur >= 0 && cur == p && is_serving(st, cur) ? cur : -1;
    }
    if (is_usable(st, cur))
        return cur;
    int best = closest(st, true);
    if (best < 0)
        best = closest(st, false);
    /* Nothing better than a denied source that still serves: keep trying it. */
    if (best < 0 && is_serving(st, cur))
        return cur;
    return best;
}

void repl_sync_choose(struct repl_state *st, struct repl_actions *out)
{
    int next = choose(st);
    if (next >= 0 && next == st->forced_sync_source)
        st->forced_sync_source_until_ms = 0;
    if (next == st->sync_source)
        return;
    st->sync_source = next;
    repl_core_push(out, REPL_ACT_SYNC_SOURCE, next);
    if (next >= 0)
        repl_core_log(st, out, "3.2", "sync source is now %s", st->config.members[next].host);
    else
        repl_core_log(st, out, "3.2", "no sync source");
}

void repl_sync_on_failure(struct repl_state *st, int i, struct repl_actions *out)
{
    if (i != st->sync_source)
        return;
    st->peers[i].sync_deny_until_ms = st->now_ms + st->config.settings.election_timeout_ms;
    repl_core_log(st, out, "3.2", "fetching from sync source %s failed: denied as a source for %lld ms",
                  st->config.members[i].host, (long long)st->config.settings.election_timeout_ms);
    repl_sync_choose(st, out);
}

void repl_sync_force(struct repl_state *st, int i, struct repl_actions *out)
{
    /* The request waits (our view of the member may be a heartbeat old) until
     * the member is chosen or one election timeout passed; later choices are
     * ours again. */
    st->forced_sync_source = i;
    st->forced_sync_source_until_ms = st->now_ms + st->config.settings.election_timeout_ms;
    st->peers[i].sync_deny_until_ms = 0;
    repl_core_log(st, out, "3.2", "replSetSyncFrom: sync source %s requested", st->config.members[i].host);
    repl_sync_choose(st, out);
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
