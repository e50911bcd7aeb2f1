/* takeover.c - priority takeover (digest 1.5): a secondary with a higher
 * priority than the primary of its term schedules an election after
 * (priorityRank + 1) x electionTimeout + random offset and stands if it is
 * still fresh enough. Catch-up takeover is not modelled (noted in README.md).
 *
 * Guarantees: at most one takeover scheduled; when it fires the normal
 * unelectable checks apply plus the freshness window. */
#include "repl/core_internal.h"

#define PRIORITY_TAKEOVER_FRESHNESS_WINDOW_SECS 2
#define PRIORITY_TAKEOVER_SAME_SECOND_INCREMENTS 1000

static int priority_rank(const struct repl_state *st)
{
    double mine = st->config.members[st->self].priority;
    int rank = 0;
    for (int i = 0; i < st->config.n_members; i++)
        rank += st->config.members[i].priority > mine;
    return rank;
}

void repl_takeover_on_primary_seen(struct repl_state *st, int primary)
{
    if (st->member_state != REPL_SECONDARY || st->phase != REPL_ELECT_NONE || !repl_core_is_electable(st, st->self))
        return;
    if (st->config.members[primary].priority >= st->config.members[st->self].priority) {
        st->takeover_deadline_ms = -1;
        return;
    }
    if (st->takeover_deadline_ms >= 0)
        return;
    /* ReplSetConfig::getPriorityTakeoverDelay: (rank + 1) x electionTimeout, plus the random offset. */
    st->takeover_deadline_ms = st->now_ms + (priority_rank(st) + 1) * st->config.settings.election_timeout_ms +
                               repl_core_election_offset(st);
}

bool repl_takeover_is_fresh_enough(const struct repl_state *st)
{
    struct optime latest = st->applied;
    for (int i = 0; i < st->config.n_members; i++)
        if (i != st->self && st->peers[i].is_up && optime_compare(st->peers[i].applied, latest) > 0)
            latest = st->peers[i].applied;
    /* Same term as the newest applied we know of, and close to it in time. */
    if (st->applied.term != latest.term)
        return false;
    if (optime_secs(latest) != optime_secs(st->applied))
        return (uint64_t)optime_secs(st->applied) + PRIORITY_TAKEOVER_FRESHNESS_WINDOW_SECS >=
               (uint64_t)optime_secs(latest);
    return (uint64_t)optime_inc(st->applied) + PRIORITY_TAKEOVER_SAME_SECOND_INCREMENTS >=
           (uint64_t)optime_inc(latest);
}

void repl_takeover_on_tick(struct repl_state *st, struct repl_actions *out)
{
    if (st->takeover_deadline_ms < 0 || st->now_ms < st->takeover_deadline_ms)
        return;
    st->takeover_deadline_ms = -1;
    if (st->phase != REPL_ELECT_NONE || st->member_state != REPL_SECONDARY)
        return;
    int p = st->primary_index;
    if (p < 0 || p == st->self || st->config.members[p].priority >= st->config.members[st->self].priority)
        return;
    const char *why = repl_unelectable_reason(st, true);
    if (why) {
        repl_core_log(st, out, "1.5", "priority takeover not attempted: %s", why);
        return;
    }
    repl_elect_start(st, out, REPL_REASON_PRIORITY_TAKEOVER, false);
}
