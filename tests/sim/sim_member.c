/* sim_member.c - the members of a simulated set: boot (restore from what was
 * persisted), crash (lose the volatile state and the un-fsynced oplog tail),
 * feeding events to the core, carrying out every action type of core.h, and
 * the model of the glue the core does not own (src/repl/node*.c, fetcher.c,
 * rollback.c, applier.c), kept in the same order of events:
 *
 *   - PERSIST_VOTE / PERSIST_CONFIG / WRITE_NOOP are writer jobs completed in
 *     submission order after a delay; PERSISTED, CONFIG_INSTALLED and
 *     NOOP_WRITTEN (then OPTIMES) are fed when they complete. A crash loses
 *     jobs that had not completed. LastVote is written with the vote the state
 *     holds when the job is made (node_persist_vote).
 *   - The fetcher asks its source for entries from our last timestamp on, feeds
 *     SYNC_SOURCE_META from the reply first (fetcher.c feed_meta), then either
 *     appends the batch (OPTIMES), reports "source behind us"
 *     (SYNC_SOURCE_FAILED), or rolls back: ROLLBACK, common point = newest
 *     entry of ours the source holds with the same (ts, t), truncate after it,
 *     OPTIMES rewound, SECONDARY (rollback.c); no common point => RECOVERING.
 *   - Client writes go to writable primaries; a write is acknowledged
 *     w:"majority" when the primary's commit point reaches it while that
 *     primary (same term) still holds it (node_wc.c fails waiters on stepdown).
 *   - The commit point is persisted lazily (every second), as node.c does. */
#include "sim.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_BASE_SECS 100
/* node.c writes one every 10 s; the sim runs every timer at a tenth of the defaults. */
#define SIM_PERIODIC_NOOP_MS 1000

/* ---- the oplog model ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDull;
}

static struct optime log_last(const struct sim_log *l)
{
    return l->n ? l->v[l->n - 1].ot : OPTIME_NULL;
}

static struct optime log_durable(const struct sim_log *l)
{
    return l->n_durable ? l->v[l->n_durable - 1].ot : OPTIME_NULL;
}

const struct sim_op *sim_log_find(const struct sim_log *l, struct optime ot)
{
    int lo = 0, hi = l->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = optime_compare(l->v[mid].ot, ot);
        if (c == 0)
            return &l->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* Index of the first entry with ts >= ts (timestamps strictly increase in a log). */
static int log_lower_bound_ts(const struct optime *v, int n, uint64_t ts)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int log_lower_bound_ts_ops(const struct sim_log *l, uint64_t ts)
{
    int lo = 0, hi = l->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (l->v[mid].ot.ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void log_append(struct sim *s, int k, struct optime ot, int64_t write_id)
{
    struct sim_log *l = &s->m[k].log;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    const struct sim_op *prev = l->n ? &l->v[l->n - 1] : NULL;
    struct sim_op *op = &l->v[l->n];
    op->ot = ot;
    op->write_id = write_id;
    op->prefix_hash = mix(mix(prev ? prev->prefix_hash : 0, ot.ts), (uint64_t)ot.term);
    l->n++;
    sim_trace(s, k, 101, (int64_t)ot.ts, ot.term, write_id);
    sim_check_append(s, k, op, prev);
}

/* The next timestamp a primary hands out: its clock's second, above the log's newest. */
static struct optime next_optime(struct sim *s, int k, int64_t term)
{
    uint64_t secs = (uint64_t)(sim_member_now(s, k) / 1000 + TS_BASE_SECS);
    uint64_t ts = secs << 32 | 1u;
    struct optime last = log_last(&s->m[k].log);
    if (ts <= last.ts)
        ts = last.ts + 1;
    return (struct optime){ts, term};
}

static int64_t wall_of(struct optime o)
{
    return (int64_t)optime_secs(o) * 1000;
}

static void feed_optimes(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.peer = -1;
    ev.optimes.applied = log_last(&m->log);
    ev.optimes.durable = log_durable(&m->log);
    if (optime_compare(ev.optimes.applied, m->st.applied) == 0 &&
        optime_compare(ev.optimes.durable, m->st.durable) == 0)
        return;
    ev.optimes.applied_wall_ms = wall_of(ev.optimes.applied);
    ev.optimes.durable_wall_ms = wall_of(ev.optimes.durable);
    sim_feed(s, k, &ev);
}

/* Written entries become durable now, or after a simulated fsync. */
static void after_write(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    if (!s->is_lazy_fsync) {
        m->log.n_durable = m->log.n;
        return;
    }
    struct sim_ev *e = sim_ev_new(s, SE_FSYNC, k, s->now + sim_range(s, 1, 60));
    e->arg = m->log.n;
    e->arg2 = (int64_t)m->log.v[m->log.n - 1].ot.ts;
    sim_push(s, e);
}

/* ---- life ---- */

static void set_state_event(struct sim *s, int k, enum repl_member_state to)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SET_STATE;
    ev.peer = -1;
    ev.new_state = to;
    sim_feed(s, k, &ev);
}

void sim_member_boot(struct sim *s, int k, bool is_first)
{
    struct sim_member *m = &s->m[k];
    if (is_first) {
        m->p_term = 0;
        m->p_vote_term = -1;
        m->p_vote_cand = -1;
        m->p_commit = OPTIME_NULL;
        log_append(s, k, (struct optime){(uint64_t)TS_BASE_SECS << 32 | 1u, 0}, -1);
        m->log.n_durable = m->log.n;
    }
    m->is_up = true;
    m->is_paused = false;
    m->source = -1;
    m->fetch_gen++;
    m->is_fetch_busy = m->is_rolling_back = m->is_fetch_stale = false;
    m->persist_busy_until = 0;
    m->is_noop_in_flight = m->was_writable = false;
    m->p_commit_at = s->now;
    repl_state_init(&m->st, s->cfg.members[k].host, sim_rand(s) | 1);
    struct optime last = log_last(&m->log);
    repl_state_restore(&m->st, m->p_term, m->p_vote_term, m->p_vote_cand, last, last);
    m->st.applied_wall_ms = m->st.durable_wall_ms = wall_of(last);
    if (!optime_is_null(m->p_commit) && optime_compare(m->p_commit, last) <= 0)
        m->st.commit_point = m->p_commit;
    sim_trace(s, k, 106, m->p_term, m->p_vote_term, m->p_vote_cand);
    sim_check_restart(s, k);

    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_CONFIG_INSTALLED;
    ev.peer = -1;
    ev.config = &s->cfg;
    sim_feed(s, k, &ev);
    sim_push(s, sim_ev_new(s, SE_TICK, k, s->now + sim_range(s, 1, 50)));
    sim_push(s, sim_ev_new(s, SE_FETCH, k, s->now + sim_range(s, 1, 30)));
}

void sim_member_crash(struct sim *s, int k, const char *why)
{
    struct sim_member *m = &s->m[k];
    if (!m->is_up)
        return;
    (void)why;
    sim_trace(s, k, 103, m->log.n, m->log.n_durable, m->st.term);
    m->is_up = false;
    m->is_paused = false;
    m->inc++;
    /* Power loss: only the fsync'd prefix of the oplog survives. */
    m->log.n = m->log.n_durable;
    repl_state_destroy(&m->st);
    memset(&m->st, 0, sizeof m->st);
    for (int64_t i = 0; i < s->n_writes; i++)
        if (s->writes[i].member == k && !s->writes[i].is_done)
            s->writes[i].is_done = true;
}

/* ---- actions ---- */

static int64_t job_done_at(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    int64_t d = sim_pct(s, s->slow_persist_pct) ? sim_range(s, 20, 400) : sim_range(s, 0, 6);
    int64_t at = s->now + d;
    if (at < m->persist_busy_until)
        at = m->persist_busy_until;
    m->persist_busy_until = at;
    return at;
}

static void send_position(struct sim *s, int k, int target)
{
    struct repl_position_entry pos[REPL_MAX_MEMBERS];
    int n = repl_core_position_entries(&s->m[k].st, pos, REPL_MAX_MEMBERS);
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_UPDATE_POSITION;
    ev.peer = k;
    ev.update_position.term = s->o.is_position_without_term ? 0 : s->m[k].st.term;
    sim_send(s, k, target, &ev, pos, n);
}

static void execute(struct sim *s, int k, const struct repl_actions *acts)
{
    struct sim_member *m = &s->m[k];
    for (int i = 0; i < acts->n; i++) {
        const struct repl_action *a = &acts->v[i];
        struct sim_ev *e;
        struct repl_event ev;
        switch (a->type) {
        case REPL_ACT_SEND_HEARTBEAT:
        case REPL_ACT_SEND_VOTE_REQUEST:
            if (a->target >= 0 && a->target < s->n && a->target != k)
                sim_send_request(s, k, a->target, a);
            break;
        case REPL_ACT_REPLY_HEARTBEAT:
        case REPL_ACT_REPLY_VOTE:
            if (a->type == REPL_ACT_REPLY_VOTE && a->vote_response.vote_granted)
                sim_trace(s, k, 107, a->vote_response.term, (int64_t)a->request_id, 0);
            sim_route_reply(s, k, a);
            break;
        case REPL_ACT_PERSIST_VOTE:
            e = sim_ev_new(s, SE_PERSIST_VOTE, k, job_done_at(s, k));
            e->arg = (int64_t)a->persist.seq;
            e->arg2 = a->persist.term;
            /* The job writes the vote the state holds now (node_persist_vote). */
            e->rev.vote_request.term = m->st.last_vote_term;
            e->rev.vote_request.candidate_index = m->st.last_vote_candidate;
            sim_push(s, e);
            /* Targeted fault: die before a fresh vote is durable. */
            if (!s->is_healed && m->st.last_vote_term == m->st.term && sim_pct(s, s->crash_after_vote_pct)) {
                struct sim_ev *c = sim_ev_new(s, SE_NEMESIS, -1, s->now + sim_range(s, 0, e->at - s->now));
                c->arg = k;
                sim_push(s, c);
            }
            break;
        case REPL_ACT_PERSIST_CONFIG:
            sim_push(s, sim_ev_new(s, SE_PERSIST_CONFIG, k, job_done_at(s, k)));
            break;
        case REPL_ACT_ROLE_CHANGE:
            sim_trace(s, k, 100, a->role.old_state, a->role.new_state, m->st.term);
            if (a->role.new_state == REPL_PRIMARY)
                sim_check_new_primary(s, k, m->st.term);
            if (a->role.old_state == REPL_PRIMARY)
                for (int64_t w = 0; w < s->n_writes; w++)
                    if (s->writes[w].member == k)
                        s->writes[w].is_done = true;
            break;
        case REPL_ACT_WRITE_NOOP:
            e = sim_ev_new(s, SE_NOOP, k, job_done_at(s, k));
            e->arg = 1;
            e->arg2 = a->noop_term;
            m->is_noop_in_flight = true;
            sim_push(s, e);
            break;
        case REPL_ACT_COMMIT_ADVANCED:
            break;
        case REPL_ACT_SYNC_SOURCE:
            m->source = a->target;
            m->fetch_gen++;
            m->is_fetch_busy = false;
            m->is_fetch_stale = false;
            break;
        case REPL_ACT_SEND_UPDATE_POSITION:
            if (a->target >= 0 && a->target < s->n)
                send_position(s, k, a->target);
            break;
        case REPL_ACT_SEND_STEP_UP:
            if (a->target < 0 || a->target >= s->n)
                break;
            memset(&ev, 0, sizeof ev);
            ev.type = REPL_EV_STEP_UP_REQUEST;
            ev.peer = k;
            ev.step_up_skip_dry_run = true;
            sim_send(s, k, a->target, &ev, NULL, 0);
            break;
        case REPL_ACT_COMMAND_RESULT:
        case REPL_ACT_LOG:
            break;
        }
    }
}

/* A w:"majority" write is acknowledged once its primary's commit point reaches
 * it while that primary, in the write's term, still holds it. */
static void check_acks(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    for (int64_t i = s->n_writes - 1; i >= 0; i--) {
        struct sim_write *w = &s->writes[i];
        if (w->member != k || w->is_done)
            continue;
        if (m->st.member_state != REPL_PRIMARY || m->st.term != w->ot.term || !sim_log_find(&m->log, w->ot)) {
            w->is_done = true;
            continue;
        }
        if (optime_compare(m->st.commit_point, w->ot) >= 0) {
            w->is_done = w->is_acked = true;
            s->n_acked++;
            sim_trace(s, k, 105, (int64_t)w->ot.ts, w->ot.term, i);
        }
    }
}

void sim_feed(struct sim *s, int k, struct repl_event *ev)
{
    struct sim_member *m = &s->m[k];
    if (!m->is_up || s->has_failed)
        return;
    ev->now_ms = sim_member_now(s, k);
    struct repl_actions acts;
    repl_actions_init(&acts);
    repl_step(&m->st, ev, &acts);
    execute(s, k, &acts);
    repl_actions_destroy(&acts);
    bool is_writable = repl_is_writable_primary(&m->st);
    if (is_writable && !m->was_writable)
        m->last_write_at = ev->now_ms;
    m->was_writable = is_writable;
    check_acks(s, k);
    sim_check_after_step(s, k);
}

void sim_client_write(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    if (!m->is_up || m->is_paused || !repl_is_writable_primary(&m->st))
        return;
    struct optime ot = next_optime(s, k, m->st.term);
    if (s->n_writes == s->cap_writes) {
        s->cap_writes = s->cap_writes ? s->cap_writes * 2 : 256;
        s->writes = xrealloc(s->writes, (size_t)s->cap_writes * sizeof *s->writes);
    }
    int64_t id = s->n_writes++;
    s->writes[id] = (struct sim_write){ot, k, false, false};
    log_append(s, k, ot, id);
    m->last_write_at = sim_member_now(s, k);
    after_write(s, k);
    feed_optimes(s, k);
}

/* ---- the fetcher and rollback ---- */

static void fetch_failed(struct sim *s, int k, int source)
{
    struct sim_member *m = &s->m[k];
    m->is_fetch_busy = false;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_SOURCE_FAILED;
    ev.peer = source;
    sim_feed(s, k, &ev);
}

static void on_fetch_tick(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    struct sim_ev *next = sim_ev_new(s, SE_FETCH, k, s->now + sim_range(s, 15, 40));
    sim_push(s, next);
    int src = m->source;
    if (src < 0 || m->is_rolling_back || m->is_fetch_stale)
        return;
    if (m->is_fetch_busy) {
        /* The find's deadline (the glue's peer timeout), scaled down. */
        if (s->now - m->fetch_sent_at > 800)
            fetch_failed(s, k, src);
        return;
    }
    if (!s->m[src].is_up) {
        fetch_failed(s, k, src); /* connection refused */
        return;
    }
    m->is_fetch_busy = true;
    m->fetch_sent_at = s->now;
    if (!sim_link_ok(s, k, src) || sim_pct(s, s->drop_pct))
        return; /* lost: the deadline above reports it */
    struct sim_ev *e = sim_ev_new(s, SE_FETCH_REQ, src, s->now + sim_net_delay(s));
    e->from = k;
    e->from_inc = m->inc;
    e->arg = m->fetch_gen;
    e->rev.noop_optime = log_last(&m->log);
    sim_push(s, e);
}

static void on_fetch_req(struct sim *s, struct sim_ev *req)
{
    int src = req->member, k = req->from;
    const struct sim_member *sm = &s->m[src];
    struct optime ours = req->rev.noop_optime;
    struct sim_fetch_reply *fr = xcalloc(1, sizeof *fr);
    fr->meta_term = sm->st.term;
    fr->meta_commit = sm->st.commit_point;
    fr->meta_primary = sm->st.primary_index;
    int i = log_lower_bound_ts_ops(&sm->log, ours.ts);
    if (i >= sm->log.n) {
        fr->is_empty = true;
    } else if (optime_compare(sm->log.v[i].ot, ours) == 0) {
        fr->has_ours = true;
        for (int j = i + 1; j < sm->log.n && fr->n < SIM_BATCH; j++)
            fr->v[fr->n++] = sm->log.v[j].ot;
    } else {
        fr->snapshot = xmalloc((size_t)sm->log.n * sizeof *fr->snapshot);
        for (int j = 0; j < sm->log.n; j++)
            fr->snapshot[j] = sm->log.v[j].ot;
        fr->n_snapshot = sm->log.n;
    }
    if (!sim_link_ok(s, src, k) || sim_pct(s, s->drop_pct) || s->m[k].inc != req->from_inc) {
        free(fr->snapshot);
        free(fr);
        return;
    }
    struct sim_ev *e = sim_ev_new(s, SE_FETCH_REPLY, k, s->now + sim_net_delay(s));
    e->from = src;
    e->arg = req->arg;
    e->fr = fr;
    sim_push(s, e);
}

static void start_rollback(struct sim *s, int k, const struct sim_fetch_reply *fr)
{
    struct sim_member *m = &s->m[k];
    set_state_event(s, k, REPL_ROLLBACK);
    if (!m->is_up || s->has_failed)
        return;
    /* Newest entry of ours that the source holds with the same (ts, t). */
    int common = -1;
    for (int i = m->log.n - 1; i >= 0 && common < 0; i--) {
        int j = log_lower_bound_ts(fr->snapshot, fr->n_snapshot, m->log.v[i].ot.ts);
        if (j < fr->n_snapshot && optime_compare(fr->snapshot[j], m->log.v[i].ot) == 0)
            common = i;
    }
    if (common < 0) {
        sim_trace(s, k, 102, -1, 0, 0);
        set_state_event(s, k, REPL_RECOVERING);
        m->is_fetch_stale = true;
        return;
    }
    m->is_rolling_back = true;
    struct sim_ev *e = sim_ev_new(s, SE_ROLLBACK_DONE, k, s->now + sim_range(s, 1, 40));
    e->arg = (int64_t)m->log.v[common].ot.ts;
    sim_push(s, e);
}

static void feed_meta(struct sim *s, int k, const struct sim_fetch_reply *fr)
{
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_SYNC_SOURCE_META;
    ev.peer = -1;
    ev.meta.term = fr->meta_term;
    ev.meta.commit_point = fr->meta_commit;
    ev.meta.primary_index = fr->meta_primary;
    if (fr->meta_term >= 0)
        sim_feed(s, k, &ev);
}

static void on_fetch_reply(struct sim *s, struct sim_ev *e)
{
    int k = e->member;
    struct sim_member *m = &s->m[k];
    if (e->arg != m->fetch_gen || !m->is_fetch_busy)
        return;
    m->is_fetch_busy = false;
    const struct sim_fetch_reply *fr = e->fr;
    /* The source's commit point may be capped at our last entry only once that
     * entry is known to be in the source's history (digest 3.6, RaftMongo.tla
     * LearnCommitPointFromSyncSourceNeverBeyondLastApplied): metadata is fed
     * after the first-batch check, unless is_meta_first models feeding it before. */
    if (s->o.is_meta_first || fr->has_ours) {
        feed_meta(s, k, fr);
        if (!m->is_up || s->has_failed || e->arg != m->fetch_gen)
            return;
    }
    if (fr->has_ours) {
        int before = m->log.n;
        for (int i = 0; i < fr->n; i++)
            if (optime_compare(fr->v[i], log_last(&m->log)) > 0 && fr->v[i].ts > log_last(&m->log).ts)
                log_append(s, k, fr->v[i], -1);
        if (m->log.n != before) {
            after_write(s, k);
            feed_optimes(s, k);
        }
        return;
    }
    if (fr->is_empty) {
        fetch_failed(s, k, e->from);
        return;
    }
    start_rollback(s, k, fr);
}

static void on_rollback_done(struct sim *s, int k, uint64_t common_ts)
{
    struct sim_member *m = &s->m[k];
    m->is_rolling_back = false;
    int keep = log_lower_bound_ts_ops(&m->log, common_ts + 1);
    sim_trace(s, k, 102, m->log.n, keep, (int64_t)common_ts);
    sim_check_truncate(s, k, keep);
    m->log.n = keep;
    if (m->log.n_durable > keep)
        m->log.n_durable = keep;
    if (s->is_lazy_fsync && m->log.n_durable < keep) {
        struct sim_ev *f = sim_ev_new(s, SE_FSYNC, k, s->now + sim_range(s, 1, 30));
        f->arg = keep;
        f->arg2 = (int64_t)m->log.v[keep - 1].ot.ts;
        sim_push(s, f);
    }
    feed_optimes(s, k);
    set_state_event(s, k, REPL_SECONDARY);
}

/* ---- dispatch of member events ---- */

static void on_persist_vote(struct sim *s, struct sim_ev *e)
{
    struct sim_member *m = &s->m[e->member];
    if (e->arg2 > m->p_term)
        m->p_term = e->arg2;
    m->p_vote_term = e->rev.vote_request.term;
    m->p_vote_cand = e->rev.vote_request.candidate_index;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_PERSISTED;
    ev.peer = -1;
    ev.persisted_seq = (uint64_t)e->arg;
    sim_feed(s, e->member, &ev);
}

static void on_noop(struct sim *s, int k, int64_t term, bool is_new_primary)
{
    struct sim_member *m = &s->m[k];
    m->is_noop_in_flight = false;
    m->last_write_at = sim_member_now(s, k);
    /* A no-op of a term we no longer lead would land on a secondary's oplog and
     * the core may then cap a learned commit point at it. node_persist.c checks
     * on the writer thread, at append time, that the member still leads the
     * term (oplog_writer_leads_term); the model writes it only while still
     * primary in that term and counts the others (s->n_noops_dropped;
     * --stale-noops replays the glue before that check). */
    bool is_current = m->st.member_state == REPL_PRIMARY && m->st.term == term;
    if (log_last(&m->log).term > term || (!is_current && !s->o.is_stale_noop)) {
        s->n_noops_dropped++;
        sim_trace(s, k, 101, -1, term, -2);
        return;
    }
    struct optime ot = next_optime(s, k, term);
    log_append(s, k, ot, -1);
    m->log.n_durable = m->log.n; /* the job's commit is fsync'd */
    if (is_new_primary) {
        struct repl_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_NOOP_WRITTEN;
        ev.peer = -1;
        ev.noop_optime = ot;
        sim_feed(s, k, &ev);
    }
    feed_optimes(s, k);
}

static void on_msg(struct sim *s, struct sim_ev *e)
{
    struct repl_event *ev = &e->rev;
    if (ev->type == REPL_EV_HB_RESPONSE || ev->type == REPL_EV_VOTE_RESPONSE) {
        struct sim_req *r = &s->reqs[ev->request_id - 1];
        if (r->is_answered)
            return;
        r->is_answered = true;
    }
    if (ev->type == REPL_EV_HB_RESPONSE)
        ev->hb_config = ev->hb_response.has_config ? &s->cfg : NULL;
    if (ev->type == REPL_EV_UPDATE_POSITION)
        ev->update_position.entries = e->pos;
    sim_feed(s, e->member, ev);
}

static void on_req_timeout(struct sim *s, struct sim_ev *e)
{
    struct sim_req *r = &s->reqs[e->arg];
    if (r->is_answered)
        return;
    r->is_answered = true;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = r->is_vote ? REPL_EV_VOTE_FAILURE : REPL_EV_HB_FAILURE;
    ev.peer = r->to;
    ev.vote_dry_run = r->dry_run;
    ev.vote_term = r->term;
    sim_feed(s, e->member, &ev);
}

void sim_handle(struct sim *s, struct sim_ev *e)
{
    int k = e->member;
    struct sim_member *m = &s->m[k];
    struct repl_event ev;
    sim_trace(s, k, e->kind, e->arg, e->from, 0);
    switch (e->kind) {
    case SE_TICK:
        sim_push(s, sim_ev_new(s, SE_TICK, k, s->now + 50));
        if (s->now - m->p_commit_at >= 1000) {
            m->p_commit = m->st.commit_point;
            m->p_commit_at = s->now;
        }
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_TICK;
        ev.peer = -1;
        sim_feed(s, k, &ev);
        if (m->is_up && repl_is_writable_primary(&m->st) && !m->is_noop_in_flight &&
            sim_member_now(s, k) - m->last_write_at >= SIM_PERIODIC_NOOP_MS) {
            struct sim_ev *n = sim_ev_new(s, SE_NOOP, k, job_done_at(s, k));
            n->arg2 = m->st.term;
            m->is_noop_in_flight = true;
            sim_push(s, n);
        }
        break;
    case SE_MSG:
        on_msg(s, e);
        break;
    case SE_REQ_TIMEOUT:
        on_req_timeout(s, e);
        break;
    case SE_PERSIST_VOTE:
        on_persist_vote(s, e);
        break;
    case SE_PERSIST_CONFIG:
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_CONFIG_INSTALLED;
        ev.peer = -1;
        ev.config = &s->cfg;
        sim_feed(s, k, &ev);
        break;
    case SE_NOOP:
        on_noop(s, k, e->arg2, e->arg == 1);
        break;
    case SE_FSYNC:
        /* Only if the entries it covered are still the ones in the log. */
        if (e->arg <= m->log.n && (int64_t)m->log.v[e->arg - 1].ot.ts == e->arg2 && e->arg > m->log.n_durable) {
            m->log.n_durable = (int)e->arg;
            feed_optimes(s, k);
        }
        break;
    case SE_FETCH:
        on_fetch_tick(s, k);
        break;
    case SE_FETCH_REQ:
        on_fetch_req(s, e);
        break;
    case SE_FETCH_REPLY:
        on_fetch_reply(s, e);
        break;
    case SE_ROLLBACK_DONE:
        on_rollback_done(s, k, (uint64_t)e->arg);
        break;
    default:
        break;
    }
}
