/* sim_world.c - the simulator's world: the seeded PRNG, the event queue (a
 * binary heap ordered by time, then by insertion sequence, so equal times
 * keep a deterministic order), the network between members and the trace.
 *
 * Guarantees: everything random comes from sim_rand (one seed, one run); the
 * trace hash covers every event and every action outcome, so two runs of one
 * seed are identical exactly when their hashes are. A message is dropped when
 * its link is cut when sent or when delivered, when the receiver restarted in
 * between (the connection died), or by the random drop rate. */
#include "sim.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sim_rand(struct sim *s)
{
    /* splitmix64: good enough for scheduling, and trivially reproducible. */
    uint64_t z = (s->prng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int64_t sim_range(struct sim *s, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)(sim_rand(s) % (uint64_t)(hi - lo + 1));
}

bool sim_pct(struct sim *s, int pct)
{
    return pct > 0 && (int)(sim_rand(s) % 100) < pct;
}

struct sim_ev *sim_ev_new(struct sim *s, enum sim_ev_kind kind, int member, int64_t at)
{
    struct sim_ev *e = xcalloc(1, sizeof *e);
    e->kind = kind;
    e->member = member;
    e->at = at;
    e->from = -1;
    if (member >= 0)
        e->inc = s->m[member].inc;
    return e;
}

void sim_ev_free(struct sim_ev *e)
{
    if (!e)
        return;
    free(e->pos);
    if (e->fr)
        free(e->fr->snapshot);
    free(e->fr);
    free(e);
}

static bool ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
    return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

void sim_push(struct sim *s, struct sim_ev *e)
{
    e->seq = ++s->next_seq;
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = xrealloc(s->heap, (size_t)s->heap_cap * sizeof *s->heap);
    }
    int i = s->heap_n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ev_before(e, s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
}

struct sim_ev *sim_pop(struct sim *s)
{
    if (s->heap_n == 0)
        return NULL;
    struct sim_ev *top = s->heap[0];
    struct sim_ev *last = s->heap[--s->heap_n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && ev_before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!ev_before(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_n > 0)
        s->heap[i] = last;
    return top;
}

static const char *kind_name(int kind)
{
    static const char *names[] = {"tick", "msg", "req-timeout", "persist-vote", "persist-config", "noop",
                                  "fsync", "fetch", "fetch-req", "fetch-reply", "rollback-done", "client",
                                  "nemesis", "restart", "resume", "heal"};
    static const char *extra[] = {"ROLE", "append", "truncate", "crash", "fault", "ack", "restore", "vote"};
    if (kind >= 0 && kind < (int)(sizeof names / sizeof names[0]))
        return names[kind];
    if (kind >= 100 && kind < 100 + (int)(sizeof extra / sizeof extra[0]))
        return extra[kind - 100];
    return "?";
}

static void print_rec(FILE *f, const struct sim_ring_rec *r)
{
    fprintf(f, "  t=%lld m%d %-14s %lld %lld %lld\n", (long long)r->at, r->member, kind_name(r->kind),
            (long long)r->a, (long long)r->b, (long long)r->c);
}

void sim_trace(struct sim *s, int member, int kind, int64_t a, int64_t b, int64_t c)
{
    struct sim_ring_rec r = {s->now, member, kind, a, b, c};
    const unsigned char *p = (const unsigned char *)&r;
    /* FNV-1a over the fields (the struct has no padding holes: all 8-byte or 4+4). */
    for (size_t i = 0; i < sizeof r; i++) {
        s->trace_hash ^= p[i];
        s->trace_hash *= 0x100000001B3ull;
    }
    s->ring[s->ring_n % SIM_RING] = r;
    s->ring_n++;
    if (s->o.trace)
        print_rec(stdout, &r);
}

void sim_print_failure(struct sim *s)
{
    fprintf(stderr, "sim: FAIL seed=%llu members=%d step=%lld t=%lld: %s\n", (unsigned long long)s->o.seed, s->n,
            (long long)s->step, (long long)s->now, s->fail_msg);
    fprintf(stderr, "  last %d trace records (replay: tally-sim --seed %llu --members %d --steps %lld --trace):\n",
            SIM_RING, (unsigned long long)s->o.seed, s->n, (long long)s->o.steps);
    for (int k = 0; k < s->n; k++) {
        const struct sim_member *m = &s->m[k];
        struct optime last = m->log.n ? m->log.v[m->log.n - 1].ot : OPTIME_NULL;
        fprintf(stderr, "  m%d %s%s %s term %lld log %d (durable %d) last {%u|%u, t: %lld} commit {%u|%u, t: %lld} "
                "source %d%s%s\n", k, m->is_up ? "" : "DOWN ", m->is_paused ? "PAUSED " : "",
                m->is_up ? repl_member_state_str(m->st.member_state) : "-", (long long)m->st.term, m->log.n,
                m->log.n_durable, optime_secs(last), optime_inc(last), (long long)last.term,
                optime_secs(m->st.commit_point), optime_inc(m->st.commit_point), (long long)m->st.commit_point.term,
                m->source, m->is_fetch_stale ? " (fetch stale)" : "", m->is_rolling_back ? " (rolling back)" : "");
    }
    int64_t start = s->ring_n > SIM_RING ? s->ring_n - SIM_RING : 0;
    for (int64_t i = start; i < s->ring_n; i++)
        print_rec(stderr, &s->ring[i % SIM_RING]);
}

int64_t sim_member_now(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    int64_t t = s->now + m->clock_offset;
    /* A member's clock never goes back: a lowered offset makes it stall. */
    if (t < m->last_now)
        t = m->last_now;
    m->last_now = t;
    return t;
}

bool sim_link_ok(struct sim *s, int from, int to)
{
    return !s->cut[from][to];
}

int64_t sim_net_delay(struct sim *s)
{
    if (sim_pct(s, s->slow_pct))
        return sim_range(s, 40, 400);
    return sim_range(s, 1, 12);
}

void sim_send(struct sim *s, int from, int to, const struct repl_event *ev, const struct repl_position_entry *pos,
              int n_pos)
{
    int copies = sim_pct(s, s->dup_pct) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        if (!sim_link_ok(s, from, to) || sim_pct(s, s->drop_pct) || !s->m[to].is_up)
            continue;
        struct sim_ev *e = sim_ev_new(s, SE_MSG, to, s->now + sim_net_delay(s));
        e->from = from;
        e->from_inc = s->m[from].inc;
        e->rev = *ev;
        if (pos && n_pos > 0) {
            e->pos = xmalloc((size_t)n_pos * sizeof *pos);
            memcpy(e->pos, pos, (size_t)n_pos * sizeof *pos);
            e->rev.update_position.n_entries = n_pos;
        }
        sim_push(s, e);
    }
}

void sim_send_request(struct sim *s, int from, int to, const struct repl_action *a)
{
    if (s->n_reqs == s->cap_reqs) {
        s->cap_reqs = s->cap_reqs ? s->cap_reqs * 2 : 4096;
        s->reqs = xrealloc(s->reqs, (size_t)s->cap_reqs * sizeof *s->reqs);
    }
    int64_t id = s->n_reqs++;
    struct sim_req *r = &s->reqs[id];
    memset(r, 0, sizeof *r);
    r->from = from;
    r->to = to;
    r->from_inc = s->m[from].inc;
    r->is_vote = a->type == REPL_ACT_SEND_VOTE_REQUEST;
    r->dry_run = r->is_vote && a->vote_request.dry_run;
    r->term = r->is_vote ? a->vote_request.term : 0;
    r->sent_at = s->now;

    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.peer = from;
    ev.request_id = (uint64_t)id + 1;
    if (r->is_vote) {
        ev.type = REPL_EV_VOTE_REQUEST;
        ev.vote_request = a->vote_request;
    } else {
        ev.type = REPL_EV_HB_REQUEST;
        ev.hb_request = a->hb_request;
    }
    /* The peer client's deadline; a dead target refuses the connection at once. */
    int64_t timeout = r->is_vote ? s->cfg.settings.election_timeout_ms : s->cfg.settings.heartbeat_timeout_secs * 1000;
    if (!s->m[to].is_up)
        timeout = sim_range(s, 1, 5);
    struct sim_ev *t = sim_ev_new(s, SE_REQ_TIMEOUT, from, s->now + timeout);
    t->arg = id;
    sim_push(s, t);
    sim_send(s, from, to, &ev, NULL, 0);
}

void sim_route_reply(struct sim *s, int k, const struct repl_action *a)
{
    if (a->request_id == 0 || (int64_t)a->request_id > s->n_reqs)
        return;
    int64_t id = (int64_t)a->request_id - 1;
    struct sim_req *r = &s->reqs[id];
    if (r->to != k || s->m[r->from].inc != r->from_inc)
        return;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.peer = k;
    ev.request_id = (uint64_t)id + 1;
    if (a->type == REPL_ACT_REPLY_VOTE) {
        ev.type = REPL_EV_VOTE_RESPONSE;
        ev.vote_response = a->vote_response;
        ev.vote_dry_run = r->dry_run;
        ev.vote_term = r->term;
    } else {
        ev.type = REPL_EV_HB_RESPONSE;
        ev.hb_response = a->hb_response;
        ev.rtt_ms = s->now - r->sent_at;
        /* hb_config is set at delivery when the response carries our config. */
        ev.hb_response.has_config = a->include_config;
    }
    sim_send(s, k, r->from, &ev, NULL, 0);
}
