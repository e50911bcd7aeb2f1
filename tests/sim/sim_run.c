/* sim_run.c - one simulated run: derives every parameter from the seed (set
 * size unless given, step budget, fault rates, priorities, catch-up timeout,
 * lazy fsync), boots the members, runs the nemesis until the step budget is
 * spent, then heals every fault and requires convergence within a bound of
 * virtual time, and classifies the run as passed, failed or vacuous.
 *
 * Vacuous: fewer than two terms had a primary (no failover happened) or fewer
 * than SIM_MIN_ACKED writes were acknowledged: such a run proves nothing. */
#include "sim.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MIN_ACKED 3
/* Sync-source cycles among secondaries break only by the core's fixed 30 s lag
 * rule (SYNC_SOURCE_MAX_LAG_MS, not scaled with the sim's timers): the bound
 * leaves room for it. */
#define SIM_CONVERGE_MS 60000

static void build_config(struct sim *s)
{
    struct repl_config *cfg = &s->cfg;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->set_name, sizeof cfg->set_name, "rs0");
    cfg->version = 1;
    cfg->term = 0;
    cfg->is_write_concern_majority_journal_default = true;
    cfg->n_members = s->n;
    bool has_priorities = sim_pct(s, 30);
    for (int i = 0; i < s->n; i++) {
        struct repl_member *m = &cfg->members[i];
        m->id = i;
        snprintf(m->host, sizeof m->host, "n%d:27017", i);
        m->priority = has_priorities ? (double)sim_range(s, 1, 3) : 1;
        m->votes = 1;
        m->builds_indexes = true;
        m->tags = bson_new();
    }
    cfg->settings.is_chaining_allowed = !sim_pct(s, 20);
    cfg->settings.heartbeat_interval_ms = 200;
    cfg->settings.heartbeat_timeout_secs = 1;
    cfg->settings.election_timeout_ms = 1000;
    cfg->settings.catch_up_timeout_ms = sim_pct(s, 50) ? -1 : sim_range(s, 0, 2000);
    cfg->settings.catch_up_takeover_delay_ms = 30000;
    cfg->settings.get_last_error_modes = bson_new();
}

static int pick_member(struct sim *s, bool prefer_primary)
{
    if (prefer_primary && s->last_primary >= 0 && sim_pct(s, 60))
        return s->last_primary;
    return (int)sim_range(s, 0, s->n - 1);
}

static void crash_and_restart(struct sim *s, int k, int64_t min_ms, int64_t max_ms)
{
    if (!s->m[k].is_up)
        return;
    sim_member_crash(s, k, "nemesis");
    struct sim_ev *e = sim_ev_new(s, SE_RESTART, k, s->now + sim_range(s, min_ms, max_ms));
    sim_push(s, e);
}

static void cut_both(struct sim *s, int a, int b)
{
    s->cut[a][b] = s->cut[b][a] = true;
}

/* One fault (digest 11.2), chosen by the seed. */
static void nemesis(struct sim *s)
{
    int kind = (int)sim_range(s, 0, 10);
    int k = pick_member(s, true);
    /* The first fault always hits the primary (isolate, crash or pause), so
     * nearly every run exercises a failover. */
    if (s->n_faults == 0 && s->last_primary >= 0) {
        static const int first_kinds[] = {2, 5, 7};
        kind = first_kinds[sim_range(s, 0, 2)];
        k = s->last_primary;
    }
    s->n_faults++;
    sim_trace(s, k, 104, kind, 0, 0);
    switch (kind) {
    case 0: /* heal the network */
        memset(s->cut, 0, sizeof s->cut);
        break;
    case 1: { /* random halves */
        bool side[SIM_MAX];
        for (int i = 0; i < s->n; i++)
            side[i] = sim_pct(s, 50);
        memset(s->cut, 0, sizeof s->cut);
        for (int i = 0; i < s->n; i++)
            for (int j = 0; j < s->n; j++)
                if (side[i] != side[j])
                    s->cut[i][j] = true;
        break;
    }
    case 2: /* isolate (usually the primary) */
        for (int j = 0; j < s->n; j++)
            if (j != k)
                cut_both(s, k, j);
        break;
    case 3: { /* bridge: two halves that only member k joins */
        memset(s->cut, 0, sizeof s->cut);
        for (int i = 0; i < s->n; i++)
            for (int j = 0; j < s->n; j++)
                if (i != k && j != k && (i < k) != (j < k))
                    s->cut[i][j] = true;
        break;
    }
    case 4: { /* one-way: k's messages to j are lost, j's to k arrive */
        int j = (int)sim_range(s, 0, s->n - 1);
        if (j != k)
            s->cut[k][j] = true;
        break;
    }
    case 5:
    case 6: /* crash, restart later */
        crash_and_restart(s, k, 100, 3000);
        break;
    case 7: /* pause (SIGSTOP), resume later with a clock jump */
        if (s->m[k].is_up && !s->m[k].is_paused) {
            s->m[k].is_paused = true;
            s->m[k].pause_until = s->now + sim_range(s, 200, 3000);
            struct sim_ev *e = sim_ev_new(s, SE_RESUME, k, s->m[k].pause_until);
            sim_push(s, e);
        }
        break;
    case 8: /* clock skew */
        s->m[k].clock_offset += sim_range(s, -1500, 1500);
        break;
    case 9: /* message loss, duplication and delay rates */
        s->drop_pct = (int)sim_range(s, 0, 25);
        s->dup_pct = (int)sim_range(s, 0, 5);
        s->slow_pct = (int)sim_range(s, 0, 20);
        break;
    case 10: /* quick crash and restart (lost un-fsynced tail) */
        crash_and_restart(s, k, 5, 150);
        break;
    }
}

static void heal(struct sim *s)
{
    s->is_healed = true;
    memset(s->cut, 0, sizeof s->cut);
    s->drop_pct = s->dup_pct = s->slow_pct = 0;
    s->slow_persist_pct = 0;
    s->crash_after_vote_pct = 0;
    s->converge_deadline = s->now + SIM_CONVERGE_MS;
    for (int k = 0; k < s->n; k++) {
        if (s->m[k].is_paused) {
            s->m[k].is_paused = false;
            s->m[k].pause_until = s->now;
        }
        if (!s->m[k].is_up)
            sim_member_boot(s, k, false);
    }
}

static void push_nemesis(struct sim *s, int64_t at)
{
    struct sim_ev *e = sim_ev_new(s, SE_NEMESIS, -1, at);
    e->arg = -1;
    sim_push(s, e);
}

/* Events of a paused member wait for it; events of a dead incarnation vanish. */
static bool dispatch(struct sim *s, struct sim_ev *e)
{
    switch (e->kind) {
    case SE_NEMESIS:
        if (e->arg >= 0) {
            if (!s->is_healed)
                crash_and_restart(s, (int)e->arg, 10, 400);
        } else if (!s->is_healed) {
            nemesis(s);
            push_nemesis(s, s->now + sim_range(s, 200, 2000));
        }
        return true;
    case SE_HEAL:
        heal(s);
        return true;
    case SE_CLIENT:
        if (!s->is_healed) {
            sim_client_write(s, pick_member(s, true));
            struct sim_ev *n = sim_ev_new(s, SE_CLIENT, -1, s->now + sim_range(s, 5, 80));
            sim_push(s, n);
        }
        return true;
    case SE_RESTART:
        if (!s->m[e->member].is_up)
            sim_member_boot(s, e->member, false);
        return true;
    case SE_RESUME:
        if (s->m[e->member].is_up && s->m[e->member].pause_until <= s->now)
            s->m[e->member].is_paused = false;
        return true;
    default:
        break;
    }
    struct sim_member *m = &s->m[e->member];
    if (!m->is_up || e->inc != m->inc)
        return true;
    if (m->is_paused) {
        e->at = m->pause_until > s->now ? m->pause_until : s->now + 1;
        sim_push(s, e);
        return false;
    }
    sim_handle(s, e);
    return true;
}

static void destroy(struct sim *s)
{
    struct sim_ev *e;
    while ((e = sim_pop(s)))
        sim_ev_free(e);
    free(s->heap);
    for (int k = 0; k < s->n; k++) {
        if (s->m[k].is_up)
            repl_state_destroy(&s->m[k].st);
        free(s->m[k].log.v);
    }
    repl_config_destroy(&s->cfg);
    free(s->reqs);
    free(s->writes);
    free(s->primary_of_term);
    free(s->seen);
}

enum sim_result sim_run(const struct sim_opts *o, uint64_t *trace_hash, char *why, size_t why_cap)
{
    struct sim *s = xcalloc(1, sizeof *s);
    s->o = *o;
    s->prng = o->seed * 0x2545F4914F6CDD1Dull + 1;
    s->trace_hash = 0xCBF29CE484222325ull;
    s->n = o->members ? o->members : (int)(3 + 2 * sim_range(s, 0, 2));
    s->o.members = s->n;
    if (s->o.steps <= 0)
        s->o.steps = sim_range(s, 1500, 6000) * (s->n <= 3 ? 1 : s->n <= 5 ? 2 : 3);
    s->last_primary = -1;
    build_config(s);
    s->is_lazy_fsync = sim_pct(s, 50);
    s->crash_after_vote_pct = sim_pct(s, 40) ? (int)sim_range(s, 5, 40) : 0;
    s->slow_persist_pct = (int)sim_range(s, 0, 30);
    s->drop_pct = (int)sim_range(s, 0, 5);
    for (int k = 0; k < s->n; k++) {
        s->m[k].clock_offset = sim_range(s, -500, 500);
        s->m[k].last_now = 0;
    }
    s->now = 1000;
    for (int k = 0; k < s->n; k++)
        sim_member_boot(s, k, true);
    push_nemesis(s, s->now + sim_range(s, 1500, 3000));
    sim_push(s, sim_ev_new(s, SE_CLIENT, -1, s->now + 500));

    struct sim_ev *e;
    bool is_heal_queued = false;
    while (!s->has_failed && (e = sim_pop(s))) {
        if (e->at > s->now)
            s->now = e->at;
        s->step++;
        bool is_done = dispatch(s, e);
        if (is_done)
            sim_ev_free(e);
        if (s->has_failed)
            break;
        if (!is_heal_queued && s->step >= s->o.steps) {
            is_heal_queued = true;
            sim_push(s, sim_ev_new(s, SE_HEAL, -1, s->now));
        }
        if (s->is_healed) {
            if (sim_is_converged(s)) {
                s->is_converged = true;
                break;
            }
            if (s->now > s->converge_deadline) {
                sim_fail(s, "Convergence: no single primary with identical logs %d ms after healing",
                         SIM_CONVERGE_MS);
                break;
            }
        }
    }
    if (!s->has_failed && !s->is_converged)
        sim_fail(s, "the event queue ran dry");
    if (!s->has_failed)
        sim_check_final(s);

    enum sim_result r = SIM_PASS;
    if (s->has_failed) {
        r = SIM_FAIL;
        if (!o->quiet)
            sim_print_failure(s);
        snprintf(why, why_cap, "%s", s->fail_msg);
    } else if (s->n_primary_terms < 2 || s->n_acked < SIM_MIN_ACKED) {
        r = SIM_VACUOUS;
        snprintf(why, why_cap, "vacuous: %d terms with a primary, %lld acknowledged writes", s->n_primary_terms,
                 (long long)s->n_acked);
    } else {
        snprintf(why, why_cap, "ok: %lld steps, %d terms with a primary, %lld acknowledged writes, %d faults",
                 (long long)s->step, s->n_primary_terms, (long long)s->n_acked, s->n_faults);
    }
    *trace_hash = s->trace_hash;
    destroy(s);
    free(s);
    return r;
}
