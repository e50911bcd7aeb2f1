/* node.c - the replica-set member's life: create (restore from the store,
 * install the oplog writer's hook), start (tick timer), stop, destroy; the
 * clock; the heartbeat/vote peer clients; feeding events to the core.
 *
 * Sits between main.c / the dispatcher and the pure core (core.h). Every
 * function runs on the loop thread. Guarantees: the hook is installed before
 * the writer thread exists; the core sees non-decreasing monotonic times;
 * after repl_node_stop nothing is sent, submitted or fed any more. */
#include "repl/node_internal.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/wallclock.h"
#include "net/peer.h"
#include "net/server.h"
#include "repl/fetcher.h"
#include "repl/oplog_cap.h"
#include "repl/oplog_writer.h"
#include "storage/oplog.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000u);
}

int64_t node_wall_now_ms(void)
{
    return wallclock_now_ms();
}

/* The core's clock: monotonic, but anchored to the wall clock at start, so
 * the times it stamps (electionTime, electionDate) read as dates. */
int64_t node_now_ms(const struct repl_node *n)
{
    int64_t now = mono_ms() + n->wall_offset_ms;
    /* The core requires non-decreasing times; hrtime is monotonic, but be safe. */
    return now < n->st.now_ms ? n->st.now_ms : now;
}

/* The core's times are anchored to the real wall clock at start; shown as
 * dates they follow this member's (possibly skewed) wall clock. */
int64_t node_wall_ms(const struct repl_node *n, int64_t now_ms)
{
    (void)n;
    return now_ms + wallclock_offset_ms();
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void node_close_free(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, free_handle);
}

/* ---- self identification ---- */

static int find_host(const struct repl_config *cfg, const char *host)
{
    return repl_config_find_host(cfg, host);
}

static int take_self(struct repl_node *n, const struct repl_config *cfg, int i)
{
    if (strcasecmp(n->st.self_host, cfg->members[i].host) != 0 && strcasecmp(n->srv->host_port, cfg->members[i].host) != 0)
        log_info(LOGC_REPL, "REPL: this member (%s) is %s in the replica set config", n->srv->host_port,
                 cfg->members[i].host);
    snprintf(n->st.self_host, sizeof n->st.self_host, "%s", cfg->members[i].host);
    return i;
}

/* The member whose host is addr:port (IPv6 addresses also as [addr]:port), or -1. */
static int find_addr(const struct repl_config *cfg, const char *addr, const char *port)
{
    char cand[REPL_HOST_MAX];
    int i;

    snprintf(cand, sizeof cand, "%s:%s", addr, port);
    if ((i = find_host(cfg, cand)) >= 0 || !strchr(addr, ':'))
        return i;
    snprintf(cand, sizeof cand, "[%s]:%s", addr, port);
    return find_host(cfg, cand);
}

static bool is_wildcard(const char *addr)
{
    return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0 || strcmp(addr, "*") == 0;
}

static bool is_loopback_name(const char *addr)
{
    return strcmp(addr, "127.0.0.1") == 0 || strcasecmp(addr, "localhost") == 0 || strcmp(addr, "::1") == 0;
}

/* Every address of the machine's interfaces (a wildcard bind listens on all). */
static int find_interface_addr(const struct repl_config *cfg, const char *port)
{
    struct ifaddrs *ifs = NULL;
    char addr[INET6_ADDRSTRLEN];
    int i = -1;

    if (getifaddrs(&ifs) != 0)
        return -1;
    for (struct ifaddrs *a = ifs; a && i < 0; a = a->ifa_next) {
        if (!a->ifa_addr)
            continue;
        if (a->ifa_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr, addr, sizeof addr);
        else if (a->ifa_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)a->ifa_addr)->sin6_addr, addr, sizeof addr);
        else
            continue;
        i = find_addr(cfg, addr, port);
    }
    freeifaddrs(ifs);
    return i;
}

/* Which config member is this process: its hostname:port; else one of its
 * --bind_ip addresses with its port (all interface addresses for a wildcard
 * bind); else localhost / 127.0.0.1 when it listens on the loopback. An
 * address this member does not listen on never matches: two members on one
 * machine may share a port on different addresses (127.0.0.1, 127.0.0.2). */
int node_pick_self_host(struct repl_node *n, const struct repl_config *cfg)
{
    const char *hp = n->srv->host_port;
    int i = find_host(cfg, hp);
    if (i >= 0)
        return take_self(n, cfg, i);
    const char *colon = strrchr(hp, ':');
    const char *port = colon ? colon + 1 : "27017";
    const char *binds = n->srv->cfg.bind_ip ? n->srv->cfg.bind_ip : "127.0.0.1";
    char *list = xstrdup(binds), *save = NULL;
    bool is_loopback = false, is_any = false;
    for (char *tok = strtok_r(list, ",", &save); tok && i < 0; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        for (char *end = tok + strlen(tok); end > tok && end[-1] == ' ';)
            *--end = '\0';
        if (*tok == '\0')
            continue;
        is_any |= is_wildcard(tok);
        is_loopback |= is_loopback_name(tok);
        if (!is_wildcard(tok))
            i = find_addr(cfg, tok, port);
    }
    free(list);
    if (i < 0 && is_any)
        i = find_interface_addr(cfg, port);
    if (i < 0 && (is_any || is_loopback)) {
        const char *names[] = {"localhost", "127.0.0.1"};
        for (size_t k = 0; k < sizeof names / sizeof names[0] && i < 0; k++)
            i = find_addr(cfg, names[k], port);
    }
    return i >= 0 ? take_self(n, cfg, i) : -1;
}

/* ---- peers ---- */

static void destroy_peers(struct repl_node *n)
{
    n->peer_gen++; /* before destroying: their ShutdownInProgress callbacks are ignored */
    for (int i = 0; i < REPL_MAX_MEMBERS; i++) {
        if (n->peers[i]) {
            peer_destroy(n->peers[i]);
            n->peers[i] = NULL;
        }
        n->peer_hosts[i][0] = '\0';
    }
}

void node_sync_peers(struct repl_node *n)
{
    const struct repl_state *st = &n->st;
    if (n->is_stopped || !st->has_config)
        return;
    if (n->peers_cfg_version == st->config.version && n->peers_cfg_term == st->config.term &&
        n->peers_cfg_version != 0)
        return;
    bool is_same = true;
    for (int i = 0; i < REPL_MAX_MEMBERS && is_same; i++) {
        const char *want = (i < st->config.n_members && i != st->self) ? st->config.members[i].host : "";
        if (strcmp(want, n->peer_hosts[i]) != 0)
            is_same = false;
    }
    n->peers_cfg_version = st->config.version;
    n->peers_cfg_term = st->config.term;
    if (is_same)
        return;
    destroy_peers(n);
    for (int i = 0; i < st->config.n_members; i++) {
        n->peer_first_up_ms[i] = -1;
        if (i == st->self)
            continue;
        struct err e;
        err_init(&e);
        if (peer_create(n->srv->loop, st->config.members[i].host, &n->peers[i], &e) < 0) {
            log_warn(LOGC_REPL, "REPL: cannot create a client for member %s: %s", st->config.members[i].host, e.msg);
            n->peers[i] = NULL;
        } else {
            snprintf(n->peer_hosts[i], sizeof n->peer_hosts[i], "%s", st->config.members[i].host);
        }
        err_clear(&e);
    }
}

/* ---- restore ---- */

static int64_t entry_wall_ms(const bson_t *entry)
{
    bson_iter_t it;
    if (entry && bson_iter_init_find(&it, entry, "wall") && BSON_ITER_HOLDS_DATE_TIME(&it))
        return bson_iter_date_time(&it);
    return 0;
}

struct restored {
    int64_t term;
    struct oplog_last_vote vote;
    bool has_config;
    bson_t config;
    struct optime commit_point;
    struct optime last;
    int64_t last_wall_ms;
};

static int restore_read(struct store *s, struct restored *r, struct err *e)
{
    struct store_txn *t;
    int rc = store_txn_begin_read(s, &t, e);
    if (rc < 0)
        return rc;
    bson_t entry;
    if ((rc = oplog_get_term(t, &r->term, e)) < 0)
        goto out;
    if ((rc = oplog_get_last_vote(t, &r->vote, e)) < 0)
        goto out;
    if ((rc = oplog_get_config(t, &r->config, e)) < 0)
        goto out;
    r->has_config = rc == 1;
    if ((rc = oplog_get_commit_point(t, &r->commit_point, e)) < 0)
        goto out;
    if ((rc = oplog_last(t, &r->last, &entry, e)) < 0)
        goto out;
    if (rc == 1)
        r->last_wall_ms = entry_wall_ms(&entry);
    else
        r->last = OPTIME_NULL;
    rc = 0;
out:
    store_txn_end(t);
    if (rc < 0 && r->has_config) {
        bson_destroy(&r->config);
        r->has_config = false;
    }
    return rc;
}

static void on_tick(uv_timer_t *h)
{
    struct repl_node *n = h->data;
    if (n->is_stopped)
        return;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_TICK;
    ev.peer = -1;
    repl_node_feed(n, &ev);
    int64_t now = node_now_ms(n);
    /* Digest 2.5: a writable primary writes a no-op when idle for 10 s, so
     * secondaries' lag and the commit point keep moving. */
    if (repl_is_writable_primary(&n->st) && !n->is_noop_in_flight && now - n->last_write_ms >= NODE_PERIODIC_NOOP_MS)
        node_write_noop(n, n->st.term, "periodic noop", false);
    if (n->is_commit_dirty && now - n->commit_persisted_ms >= NODE_COMMIT_PERSIST_MS)
        node_persist_commit_point(n);
    oplog_cap_check(n, now);
    node_sessions_check(n);
}

int repl_node_create(struct server *srv, const char *set_name, struct repl_node **out, struct err *e)
{
    struct restored r;
    memset(&r, 0, sizeof r);
    int rc = restore_read(srv->store, &r, e);
    if (rc < 0) {
        err_prefix(e, "cannot read the replication state");
        return rc;
    }
    struct repl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    bool has_cfg = false;
    if (r.has_config) {
        rc = repl_config_parse(&r.config, REPL_CONFIG_STORED, &cfg, e);
        bson_destroy(&r.config);
        if (rc < 0) {
            repl_config_destroy(&cfg);
            err_prefix(e, "the stored replica set config is invalid");
            return rc;
        }
        has_cfg = true;
        if (strcmp(cfg.set_name, set_name) != 0) {
            rc = err_set(e, ERR_INVALID_REPLICA_SET_CONFIG,
                         "the stored replica set config names set '%s', but --replSet is '%s'", cfg.set_name,
                         set_name);
            repl_config_destroy(&cfg);
            return rc;
        }
    }

    struct repl_node *n = xcalloc(1, sizeof *n);
    node_committed_init(n);
    n->srv = srv;
    snprintf(n->set_name, sizeof n->set_name, "%s", set_name);
    n->wall_offset_ms = node_wall_now_ms() - mono_ms();
    n->start_mono_ms = mono_ms() + n->wall_offset_ms;
    n->last_write_ms = n->start_mono_ms;
    n->writable_term = -1;
    n->next_request_id = 1;
    n->commit_persisted = r.commit_point;
    for (int i = 0; i < REPL_MAX_MEMBERS; i++)
        n->peer_first_up_ms[i] = -1;
    uint64_t seed = (uint64_t)node_wall_now_ms() * 2654435761u ^ (uint64_t)getpid() ^ (uint64_t)srv->port << 20;
    repl_state_init(&n->st, srv->host_port, seed | 1);
    repl_state_restore(&n->st, r.term, r.vote.term, r.vote.candidate_index, r.last, r.last);
    n->st.applied_wall_ms = n->st.durable_wall_ms = r.last_wall_ms;
    if (!optime_is_null(r.commit_point) && optime_compare(r.commit_point, r.last) <= 0)
        n->st.commit_point = r.commit_point;
    n->st.now_ms = n->start_mono_ms;

    rc = oplog_writer_create(srv->store, &n->ow, e);
    if (rc < 0) {
        if (has_cfg)
            repl_config_destroy(&cfg);
        repl_state_destroy(&n->st);
        free(n);
        return rc;
    }
    oplog_writer_set_writable_term(n->ow, -1);
    store_set_change_hook(srv->store, oplog_writer_hook, n->ow);

    rc = fetcher_create(n, &n->fetcher, e);
    if (rc < 0) {
        store_set_change_hook(srv->store, NULL, NULL);
        oplog_writer_destroy(n->ow);
        if (has_cfg)
            repl_config_destroy(&cfg);
        repl_state_destroy(&n->st);
        free(n);
        return rc;
    }

    n->tick = xcalloc(1, sizeof *n->tick);
    uv_timer_init(srv->loop, n->tick);
    n->tick->data = n;

    log_info(LOGC_REPL, "REPL: replica set member of '%s' as %s: term %lld, last vote {term: %lld, candidate: %d}, "
             "last optime {ts: %u|%u, t: %lld}, %s", set_name, srv->host_port, (long long)r.term,
             (long long)r.vote.term, (int)r.vote.candidate_index, optime_secs(r.last), optime_inc(r.last),
             (long long)r.last.term, has_cfg ? "config restored" : "no config yet (waiting for replSetInitiate)");
    if (has_cfg) {
        if (node_pick_self_host(n, &cfg) < 0)
            log_warn(LOGC_REPL, "REPL: this member (%s) is not in the stored config: it is REMOVED", srv->host_port);
        struct repl_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = REPL_EV_CONFIG_INSTALLED;
        ev.peer = -1;
        ev.config = &cfg;
        repl_node_feed(n, &ev);
        repl_config_destroy(&cfg);
    }
    *out = n;
    return 0;
}

void repl_node_start(struct repl_node *n)
{
    if (n->is_started || n->is_stopped)
        return;
    n->is_started = true;
    node_flush_deferred(n);
    uv_timer_start(n->tick, on_tick, NODE_TICK_MS, NODE_TICK_MS);
}

void repl_node_stop(struct repl_node *n)
{
    if (n->is_stopped)
        return;
    n->is_stopped = true;
    node_committed_close(n);
    if (n->ow)
        oplog_writer_set_writable_term(n->ow, -1);
    if (n->tick) {
        uv_timer_stop(n->tick);
        node_close_free((uv_handle_t *)n->tick);
        n->tick = NULL;
    }
    destroy_peers(n);
    if (n->boot_peer) {
        struct peer *p = n->boot_peer;
        n->boot_peer = NULL;
        peer_destroy(p);
    }
    if (n->fetcher) {
        fetcher_destroy(n->fetcher);
        n->fetcher = NULL;
    }
    node_requests_fail_all(n, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
    node_wc_fail_all(n, ERR_SHUTDOWN_IN_PROGRESS, "The server is shutting down");
}

void repl_node_destroy(struct repl_node *n)
{
    if (!n)
        return;
    repl_node_stop(n);
    store_set_change_hook(n->srv->store, NULL, NULL);
    if (n->ow)
        oplog_writer_destroy(n->ow);
    node_flush_deferred(n); /* frees jobs that never ran */
    repl_state_destroy(&n->st);
    node_committed_destroy(n);
    free(n);
}

/* ---- feeding ---- */

void repl_node_feed(struct repl_node *n, struct repl_event *ev)
{
    if (n->is_stopped)
        return;
    ev->now_ms = node_now_ms(n);
    struct repl_actions acts;
    repl_actions_init(&acts);
    n->feed_depth++;
    repl_step(&n->st, ev, &acts);
    node_execute(n, &acts);
    repl_actions_destroy(&acts);
    n->feed_depth--;
    node_after_step(n);
}

void repl_node_note_local_write(struct repl_node *n, struct optime op, int64_t wall_ms)
{
    if (n->is_stopped || optime_is_null(op))
        return;
    n->last_write_ms = node_now_ms(n);
    if (optime_compare(op, n->st.applied) <= 0 && optime_compare(op, n->st.durable) <= 0)
        return;
    struct repl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = REPL_EV_OPTIMES;
    ev.peer = -1;
    /* A commit is fsync'd: what is applied is durable. */
    ev.optimes.applied = optime_compare(op, n->st.applied) > 0 ? op : n->st.applied;
    ev.optimes.durable = optime_compare(op, n->st.durable) > 0 ? op : n->st.durable;
    ev.optimes.applied_wall_ms = wall_ms;
    ev.optimes.durable_wall_ms = wall_ms;
    repl_node_feed(n, &ev);
}

/* ---- accessors ---- */

const struct repl_state *repl_node_state(const struct repl_node *n)
{
    return &n->st;
}

bool repl_node_is_writable_primary(const struct repl_node *n)
{
    return repl_is_writable_primary(&n->st);
}

bool repl_node_sees_majority(const struct repl_node *n)
{
    const struct repl_state *st = &n->st;
    if (!st->has_config || st->self < 0)
        return false;
    int total = 0, up = 0;
    for (int i = 0; i < st->config.n_members; i++) {
        if (st->config.members[i].votes <= 0)
            continue;
        total++;
        if (i == st->self || st->peers[i].is_up)
            up++;
    }
    return up * 2 > total;
}

const char *repl_node_set_name(const struct repl_node *n)
{
    return n->set_name;
}

struct oplog_writer *repl_node_oplog_writer(const struct repl_node *n)
{
    return n->ow;
}

struct server *repl_node_server(const struct repl_node *n)
{
    return n->srv;
}
