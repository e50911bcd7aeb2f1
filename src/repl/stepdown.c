/* stepdown.c - the operator commands that move leadership (digest 1.5, 1.7):
 * replSetStepDown (conditional with a catch-up period, or force), election
 * handoff, replSetFreeze and replSetStepUp, as state plus deadlines.
 *
 * Guarantees: while a conditional stepdown runs the primary is not writable;
 * it steps down only when a majority (writeMajority) has our last applied
 * optime and one caught-up member is electable, or at the deadline with force;
 * otherwise it fails with ExceededTimeLimit and becomes writable again. Every
 * request gets exactly one COMMAND_RESULT. */
#include "repl/core_internal.h"

#include <stdio.h>

static void result(struct repl_actions *out, uint64_t request_id, int code, const char *msg, bool is_warning)
{
    struct repl_action *a = repl_core_push(out, REPL_ACT_COMMAND_RESULT, -1);
    a->request_id = request_id;
    a->result.code = code;
    a->result.is_warning = is_warning;
    snprintf(a->result.msg, sizeof a->result.msg, "%s", msg);
}

void repl_stepdown_finish(struct repl_state *st, struct repl_actions *out, int code, const char *msg)
{
    if (!st->is_stepdown_active)
        return;
    st->is_stepdown_active = false;
    result(out, st->stepdown_request_id, code, msg, false);
    if (code != 0 && st->member_state == REPL_PRIMARY && st->leader_mode == REPL_LEADER_STEPPING_DOWN)
        st->leader_mode = st->mode_before_stepdown;
}

void repl_stepdown_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (st->member_state != REPL_PRIMARY) {
        result(out, ev->request_id, -ERR_NOT_WRITABLE_PRIMARY, "not primary so can't step down", false);
        return;
    }
    if (st->is_stepdown_active) {
        result(out, ev->request_id, -ERR_CONFLICTING_OPERATION_IN_PROGRESS,
               "This node is already in the process of stepping down", false);
        return;
    }
    if (ev->stepdown.secs < 0 || ev->stepdown.catch_up_secs < 0) {
        result(out, ev->request_id, -ERR_BAD_VALUE, "stepdown periods must be non-negative", false);
        return;
    }
    if (ev->stepdown.secs < ev->stepdown.catch_up_secs) {
        result(out, ev->request_id, -ERR_BAD_VALUE,
               "stepdown period must be longer than secondaryCatchUpPeriodSecs", false);
        return;
    }
    st->is_stepdown_active = true;
    st->stepdown_force = ev->stepdown.force;
    st->stepdown_secs = ev->stepdown.secs;
    st->stepdown_deadline_ms = st->now_ms + ev->stepdown.catch_up_secs * 1000;
    st->stepdown_request_id = ev->request_id;
    st->mode_before_stepdown = st->leader_mode;
    /* Digest 1.7: attempting stepdown stops accepting writes. */
    st->leader_mode = REPL_LEADER_STEPPING_DOWN;
    repl_core_log(st, out, "1.7", "replSetStepDown for %lld s requested (catch-up period %lld s%s)",
                  (long long)ev->stepdown.secs, (long long)ev->stepdown.catch_up_secs,
                  ev->stepdown.force ? ", force" : "");
    repl_stepdown_check(st, out);
}

static bool is_caught_up(const struct repl_state *st, int i)
{
    return i != st->self && st->peers[i].is_up && repl_core_is_data_bearing(st, i) &&
           optime_compare(st->peers[i].applied, st->applied) >= 0;
}

/* Election handoff target: the caught-up electable secondary with the highest priority, ties by index. */
static int handoff_target(const struct repl_state *st)
{
    int best = -1;
    for (int i = 0; i < st->config.n_members; i++) {
        if (!is_caught_up(st, i) || !repl_core_is_electable(st, i) || st->peers[i].state != REPL_SECONDARY)
            continue;
        if (best < 0 || st->config.members[i].priority > st->config.members[best].priority)
            best = i;
    }
    return best;
}

/* isSafeToStepDown (digest 1.7). */
static bool is_safe(const struct repl_state *st)
{
    /* Nothing written in our term yet: nothing can be lost. */
    if (st->mode_before_stepdown != REPL_LEADER_WRITABLE)
        return true;
    int n = 1; /* ourselves */
    bool has_electable = false;
    for (int i = 0; i < st->config.n_members; i++) {
        if (st->config.members[i].votes <= 0 || !is_caught_up(st, i))
            continue;
        n++;
        if (repl_core_is_electable(st, i) && st->peers[i].state == REPL_SECONDARY)
            has_electable = true;
    }
    return n >= repl_core_write_majority(st) && has_electable;
}

void repl_stepdown_check(struct repl_state *st, struct repl_actions *out)
{
    if (!st->is_stepdown_active || st->member_state != REPL_PRIMARY)
        return;
    bool is_due = st->now_ms >= st->stepdown_deadline_ms;
    if (is_safe(st) || (is_due && st->stepdown_force)) {
        int target = handoff_target(st);
        st->stepdown_until_ms = st->now_ms + st->stepdown_secs * 1000;
        st->is_stepdown_active = false;
        result(out, st->stepdown_request_id, 0, "", false);
        repl_core_step_down(st, out, "replSetStepDown");
        /* Digest 1.5: best-effort election handoff, skipping the dry run. */
        if (target >= 0)
            repl_core_push(out, REPL_ACT_SEND_STEP_UP, target);
        return;
    }
    if (is_due)
        repl_stepdown_finish(st, out, -ERR_EXCEEDED_TIME_LIMIT,
                             "No electable secondaries caught up as of the end of the catch-up period. Please use "
                             "the replSetStepDown command with the argument {force: true} to force node to step down.");
}

void repl_stepdown_on_freeze(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (st->member_state == REPL_PRIMARY || st->phase != REPL_ELECT_NONE) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot freeze node when primary or running for election. state: %s",
                 st->member_state == REPL_PRIMARY ? "Primary" : "Running-Election");
        result(out, ev->request_id, -ERR_NOT_SECONDARY, msg, false);
        return;
    }
    if (ev->freeze_secs < 0) {
        result(out, ev->request_id, -ERR_BAD_VALUE, "replSetFreeze seconds must be non-negative", false);
        return;
    }
    if (ev->freeze_secs == 0) {
        st->stepdown_until_ms = -1;
        repl_core_log(st, out, "1.7", "unfreezing");
        result(out, ev->request_id, 0, "unfreezing", false);
        return;
    }
    st->stepdown_until_ms = st->now_ms + ev->freeze_secs * 1000;
    repl_core_log(st, out, "1.7", "frozen for %lld s", (long long)ev->freeze_secs);
    result(out, ev->request_id, 0, ev->freeze_secs == 1 ? "you really want to freeze for only 1 second?" : "",
           ev->freeze_secs == 1);
}

void repl_stepdown_on_step_up(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    if (st->member_state == REPL_PRIMARY) {
        result(out, ev->request_id, 0, "already primary", false);
        return;
    }
    if (st->phase != REPL_ELECT_NONE) {
        result(out, ev->request_id, -ERR_COMMAND_FAILED, "election already in progress", false);
        return;
    }
    const char *why = repl_unelectable_reason(st, false);
    if (why) {
        char msg[200];
        snprintf(msg, sizeof msg, "Election failed: %s", why);
        result(out, ev->request_id, -ERR_COMMAND_FAILED, msg, false);
        return;
    }
    st->has_step_up_request = true;
    st->step_up_request_id = ev->request_id;
    bool skip = ev->step_up_skip_dry_run;
    repl_elect_start(st, out, skip ? REPL_REASON_STEP_UP_SKIP_DRY_RUN : REPL_REASON_STEP_UP, skip);
}
