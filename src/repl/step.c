/* step.c - repl_step: the single entry point of the pure core. Dispatches each
 * event to the file that owns its rule, then runs the time-driven checks
 * (heartbeat schedule, DOWN marking, liveness stepdown, election/takeover/
 * catch-up/stepdown deadlines) so every event also acts as a tick.
 *
 * Guarantees: deterministic (same state + same events => same actions); time
 * only comes from ev->now_ms and never goes backwards inside the state. */
#include "repl/core_internal.h"

#include <string.h>

static void on_optimes(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    bool is_advanced = optime_compare(ev->optimes.applied, st->applied) != 0 ||
                       optime_compare(ev->optimes.durable, st->durable) != 0;
    st->applied = ev->optimes.applied;
    st->durable = ev->optimes.durable;
    st->applied_wall_ms = ev->optimes.applied_wall_ms;
    st->durable_wall_ms = ev->optimes.durable_wall_ms;
    if (!is_advanced)
        return;
    if (st->member_state == REPL_PRIMARY) {
        repl_leader_check_catch_up(st, out);
        repl_commit_recompute(st, out);
        repl_stepdown_check(st, out);
    } else {
        repl_sync_maybe_report(st, out, true);
        repl_sync_choose(st, out);
    }
}

static void on_sync_source_meta(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    repl_core_update_term(st, out, ev->meta.term, "sync source metadata");
    /* Digest 1.1: hearing of a primary in our term through the fetcher pushes the election timer. */
    if (ev->meta.term == st->term && ev->meta.primary_index >= 0 && ev->meta.primary_index != st->self &&
        st->member_state == REPL_SECONDARY) {
        st->primary_index = ev->meta.primary_index;
        repl_elect_reset_timer(st);
    }
    repl_commit_learn(st, out, ev->meta.commit_point, true);
}

static void on_set_state(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    enum repl_member_state to = ev->new_state;
    if (to != REPL_SECONDARY && to != REPL_RECOVERING && to != REPL_ROLLBACK && to != REPL_STARTUP2) {
        repl_core_log(st, out, "5.1", "ignoring request to enter %s", repl_member_state_str(to));
        return;
    }
    if (st->member_state == REPL_PRIMARY || st->member_state == REPL_ARBITER || st->member_state == REPL_REMOVED ||
        st->member_state == REPL_STARTUP || st->member_state == to) {
        repl_core_log(st, out, "5.1", "ignoring request to enter %s from %s", repl_member_state_str(to),
                      repl_member_state_str(st->member_state));
        return;
    }
    if (st->phase != REPL_ELECT_NONE)
        repl_elect_cancel(st, out, "member state changed");
    repl_core_transition(st, out, to, "requested by the applier");
}

static void on_config(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (!ev->config)
        return;
    if (st->has_config && repl_config_compare_version(ev->config->term, ev->config->version, st->config.term,
                                                      st->config.version) < 0) {
        repl_core_log(st, out, "6.3", "ignoring config version %d: older than installed version %d",
                      ev->config->version, st->config.version);
        return;
    }
    repl_core_install_config(st, out, ev->config);
}

static void run_timers(struct repl_state *st, struct repl_actions *out)
{
    if (!st->has_config || st->self < 0)
        return;
    repl_hb_on_tick(st, out);
    repl_hb_check_liveness(st, out);
    repl_elect_on_tick(st, out);
    repl_takeover_on_tick(st, out);
    if (st->member_state == REPL_PRIMARY) {
        repl_leader_check_catch_up(st, out);
        repl_stepdown_check(st, out);
    } else {
        repl_sync_maybe_report(st, out, false);
    }
}

void repl_step(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (ev->now_ms > st->now_ms)
        st->now_ms = ev->now_ms;
    bool has_peer = st->has_config && ev->peer >= 0 && ev->peer < st->config.n_members && ev->peer != st->self;

    switch (ev->type) {
    case REPL_EV_TICK:
        break;
    case REPL_EV_HB_REQUEST:
        repl_hb_on_request(st, ev, out);
        break;
    case REPL_EV_HB_RESPONSE:
        if (has_peer)
            repl_hb_on_response(st, ev, out);
        break;
    case REPL_EV_HB_FAILURE:
        if (has_peer)
            repl_hb_on_failure(st, ev, out);
        break;
    case REPL_EV_VOTE_REQUEST:
        repl_vote_on_request(st, ev, out);
        break;
    case REPL_EV_VOTE_RESPONSE:
    case REPL_EV_VOTE_FAILURE:
        if (has_peer)
            repl_elect_on_response(st, ev, out);
        break;
    case REPL_EV_PERSISTED:
        if (ev->persisted_seq > st->persisted_seq)
            st->persisted_seq = ev->persisted_seq;
        repl_vote_on_persisted(st, out);
        repl_elect_on_persisted(st, out);
        break;
    case REPL_EV_OPTIMES:
        on_optimes(st, ev, out);
        break;
    case REPL_EV_UPDATE_POSITION:
        repl_commit_on_update_position(st, ev, out);
        break;
    case REPL_EV_SYNC_SOURCE_META:
        on_sync_source_meta(st, ev, out);
        break;
    case REPL_EV_NOOP_WRITTEN:
        repl_leader_on_noop(st, ev, out);
        break;
    case REPL_EV_ABORT_CATCH_UP:
        repl_leader_end_catch_up(st, out, "catch-up aborted (replSetAbortPrimaryCatchUp)");
        break;
    case REPL_EV_STEPDOWN_REQUEST:
        repl_stepdown_on_request(st, ev, out);
        break;
    case REPL_EV_FREEZE_REQUEST:
        repl_stepdown_on_freeze(st, ev, out);
        break;
    case REPL_EV_STEP_UP_REQUEST:
        repl_stepdown_on_step_up(st, ev, out);
        break;
    case REPL_EV_CONFIG_INSTALLED:
        on_config(st, ev, out);
        break;
    case REPL_EV_SET_STATE:
        on_set_state(st, ev, out);
        break;
    case REPL_EV_SYNC_SOURCE_FAILED:
        if (has_peer)
            repl_sync_on_failure(st, ev->peer, out);
        break;
    case REPL_EV_SYNC_FROM:
        if (has_peer)
            repl_sync_force(st, ev->peer, out);
        break;
    }
    run_timers(st, out);
}

const char *repl_unelectable_reason(const struct repl_state *st, bool is_priority_takeover)
{
    /* Digest 1.2, in MongoDB's order of checks. */
    if (!st->has_config || st->self < 0)
        return "not a member of a valid replica set config";
    if (st->config.members[st->self].is_arbiter)
        return "member is an arbiter";
    if (st->config.members[st->self].priority <= 0 || st->config.members[st->self].votes <= 0)
        return "member has zero priority";
    if (st->stepdown_until_ms > st->now_ms)
        return "member is in a stepdown or freeze period";
    if (st->member_state != REPL_SECONDARY)
        return "not currently a secondary";
    if (optime_is_null(st->applied))
        return "member has no data (null last applied optime)";
    if (!repl_hb_sees_majority(st, false))
        return "cannot see a majority of voting members";
    if (is_priority_takeover && !repl_takeover_is_fresh_enough(st))
        return "not fresh enough for priority takeover";
    return NULL;
}
