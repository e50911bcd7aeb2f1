/* main.c - tallyd startup and shutdown, nothing else.
 *
 * Order: options (flags over the YAML file), log, data directory check, store,
 * with --replSet the replica-set member (it installs the oplog hook, so before
 * the writer), writer thread, cursor registry, listeners, member start, then
 * the loop. SIGTERM, SIGINT and the shutdown command take one path: stop
 * accepting, close connections, stop the member (its waiters are answered),
 * let queued writes commit (writer_stop), free the member (its oplog hook
 * outlives the writer thread), give parked getMores their last run,
 * and once the loop has drained close the store and exit 0. Exit codes follow
 * mongod: 2 bad options, 100 data directory or storage failure, 48 listener
 * failure. */
#include "cmd/cmd.h"
#include "cmd/cmd_snapshot.h"
#include "cmd/cursor.h"
#include "core/config.h"
#include "core/log.h"
#include "net/net.h"
#include "net/server.h"
#include "repl/initial_sync.h"
#include "repl/node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define EXIT_BAD_OPTIONS 2
#define EXIT_NEED_UPGRADE 100 /* mongod's "uncaught exception" code, used for dbpath problems */
#define EXIT_LISTENER 48

static struct server server;
static uv_signal_t sig_term, sig_int, sig_usr1;
/* Frees cursors idle past their timeout even when no other cursor is used. */
static uv_timer_t cursor_reaper;
#define CURSOR_REAP_INTERVAL_MS 60000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void begin_shutdown(struct server *srv, const char *why)
{
    if (srv->is_shutting_down)
        return;
    srv->is_shutting_down = true;
    log_info(LOGC_CONTROL, "Shutting down (%s): closing listeners and connections", why);
    net_stop(srv);
    cmd_snapshot_shutdown();
    /* The member stops first (no more writable term, waiters answered); its
     * oplog hook must outlive the writer thread, so it is freed only after. */
    if (srv->repl)
        repl_node_stop(srv->repl);
    if (srv->writer) {
        /* Runs every queued write and its reply callback before returning. */
        writer_stop(srv->writer);
        srv->writer = NULL;
    }
    if (srv->repl) {
        repl_node_destroy(srv->repl);
        srv->repl = NULL;
    }
    cmd_dispatch_wake_parked(srv);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_usr1, NULL);
    uv_close((uv_handle_t *)&cursor_reaper, NULL);
}

static void on_reap_cursors(uv_timer_t *t)
{
    struct server *srv = t->data;
    cursor_registry_reap(srv->cursors, wall_ms());
}

static void on_signal(uv_signal_t *h, int signum)
{
    if (signum == SIGUSR1) {
        log_reopen();
        log_info(LOGC_CONTROL, "Log file reopened (SIGUSR1)");
        return;
    }
    begin_shutdown(h->data, signum == SIGTERM ? "signal SIGTERM" : "signal SIGINT");
}

/* An initial sync finished its copy: start again with the same arguments
 * (and so the same identity); the new process swaps the copy in before it
 * opens the store. Only returns when exec fails. */
static void reexec(char **argv)
{
    log_info(LOGC_CONTROL, "Restarting (re-exec) to swap in the initial sync copy");
    execv("/proc/self/exe", argv);
    log_error(LOGC_CONTROL, "Cannot re-exec /proc/self/exe: %s", strerror(errno));
}

/* mongod refuses to start without its data directory instead of creating it. */
static int check_dbpath(const char *dbpath)
{
    struct stat st;

    if (stat(dbpath, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error(LOGC_STORAGE,
                  "NonExistentPath: Data directory %s not found. Create the missing directory or specify another "
                  "path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in "
                  "the configuration file.",
                  dbpath);
        fprintf(stderr, "Data directory %s not found.\n", dbpath);
        return -1;
    }
    return 0;
}

/* Creates the replica-set member. Its own name (hello.me, the default config
 * of replSetInitiate) is "<hostname>:<port>", as mongod's; net_start sets the
 * same string again once the port is bound. */
static int start_member(struct server *srv, struct err *e)
{
    char host[256];

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(srv->host_port, sizeof srv->host_port, "%s:%d", host, srv->cfg.port);
    if (repl_node_create(srv, srv->cfg.repl_set, &srv->repl, e) < 0) {
        log_error(LOGC_REPL, "Cannot start replica set member of %s: %s", srv->cfg.repl_set, e->msg);
        fprintf(stderr, "tallyd: %s\n", e->msg);
        srv->repl = NULL;
        return -1;
    }
    log_info(LOGC_REPL, "Replica set member of %s, answering as %s", srv->cfg.repl_set, srv->host_port);
    return 0;
}

/* Signals, and the cursor reaper (the registry exists by now). */
static void start_signals(struct server *srv)
{
    uv_signal_init(srv->loop, &sig_term);
    uv_signal_init(srv->loop, &sig_int);
    uv_signal_init(srv->loop, &sig_usr1);
    uv_timer_init(srv->loop, &cursor_reaper);
    cursor_reaper.data = srv;
    uv_timer_start(&cursor_reaper, on_reap_cursors, CURSOR_REAP_INTERVAL_MS, CURSOR_REAP_INTERVAL_MS);
    sig_term.data = sig_int.data = sig_usr1.data = srv;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
    /* The loop keeps running for connections; signals alone must not keep it. */
    uv_unref((uv_handle_t *)&sig_usr1);
}

int main(int argc, char **argv)
{
    struct server *srv = &server;
    struct store_options sopt = {0};
    uv_loop_t loop;
    struct err e;
    int rc, status = 0;

    err_init(&e);
    signal(SIGPIPE, SIG_IGN);
    /* READ commands run on the libuv pool; it must be sized before first use. */
    setenv("UV_THREADPOOL_SIZE", "4", 0);
    rc = config_parse(&srv->cfg, argc, argv, &e);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tallyd: %s\ntry 'tallyd --help' for more information\n", e.msg);
        config_destroy(&srv->cfg);
        return rc < 0 ? EXIT_BAD_OPTIONS : 0;
    }
    if ((rc = log_open(srv->cfg.log_path)) < 0) {
        fprintf(stderr, "tallyd: cannot open log file %s: %s\n", srv->cfg.log_path, strerror(-rc));
        config_destroy(&srv->cfg);
        return EXIT_BAD_OPTIONS;
    }
    log_set_verbose(srv->cfg.is_verbose);
    srv->start_time_ms = wall_ms();
    log_info(LOGC_CONTROL, "tallyd starting: pid %d, port %d, dbpath %s", (int)getpid(), srv->cfg.port,
             srv->cfg.dbpath);
    if (check_dbpath(srv->cfg.dbpath) < 0) {
        status = EXIT_NEED_UPGRADE;
        goto destroy_config;
    }
    /* A finished initial sync is swapped in (an unfinished one removed) before the store opens. */
    if (initial_sync_prepare_dbpath(srv->cfg.dbpath, &e) < 0) {
        log_error(LOGC_REPL, "Cannot finish the initial sync in %s: %s", srv->cfg.dbpath, e.msg);
        fprintf(stderr, "tallyd: %s\n", e.msg);
        status = EXIT_NEED_UPGRADE;
        goto destroy_config;
    }
    sopt.map_size_bytes = srv->cfg.map_size_mb * 1024 * 1024;
    if (store_open(srv->cfg.dbpath, &sopt, &srv->store, &e) < 0) {
        log_error(LOGC_STORAGE, "Cannot open the data directory %s: %s", srv->cfg.dbpath, e.msg);
        fprintf(stderr, "tallyd: %s\n", e.msg);
        status = EXIT_NEED_UPGRADE;
        goto destroy_config;
    }
    uv_loop_init(&loop);
    srv->loop = &loop;
    if (srv->cfg.repl_set && start_member(srv, &e) < 0) {
        status = EXIT_NEED_UPGRADE;
        goto close_loop;
    }
    if (writer_start(srv->store, srv->loop, &srv->writer, &e) < 0) {
        log_error(LOGC_STORAGE, "Cannot start the writer thread: %s", e.msg);
        status = EXIT_NEED_UPGRADE;
        goto destroy_member;
    }
    srv->cursors = cursor_registry_create();
    if (net_start(srv, &e) < 0) {
        log_error(LOGC_NETWORK, "%s", e.msg);
        fprintf(stderr, "tallyd: %s\n", e.msg);
        status = EXIT_LISTENER;
        srv->is_shutting_down = true;
        if (srv->repl)
            repl_node_stop(srv->repl);
        writer_stop(srv->writer);
        srv->writer = NULL;
        if (srv->repl) {
            repl_node_destroy(srv->repl);
            srv->repl = NULL;
        }
        uv_run(srv->loop, UV_RUN_DEFAULT); /* let the listener handles close */
        goto destroy_cursors;
    }
    if (srv->repl)
        repl_node_start(srv->repl);
    start_signals(srv);
    log_info(LOGC_NETWORK, "Waiting for connections on port %d", srv->port);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    log_info(LOGC_CONTROL, "Now exiting: every connection is closed and every write committed");
destroy_cursors:
    net_destroy(srv);
    cursor_registry_destroy(srv->cursors);
    srv->cursors = NULL;
destroy_member:
    if (srv->repl) {
        /* Only when the writer never started: shutdown destroys it otherwise. */
        repl_node_destroy(srv->repl);
        srv->repl = NULL;
        uv_run(srv->loop, UV_RUN_DEFAULT); /* let its handles close */
    }
close_loop:
    if (uv_loop_close(&loop) != 0)
        log_warn(LOGC_CONTROL, "The event loop still had open handles at exit");
    store_close(srv->store);
    srv->store = NULL;
destroy_config:
    config_destroy(&srv->cfg);
    err_clear(&e);
    if (status == 0 && initial_sync_is_reexec_requested())
        reexec(argv);
    return status;
}
