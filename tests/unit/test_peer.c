/* test_peer.c - the member-to-member client (net/peer.c) against a real
 * bin/tallyd started here on an ephemeral port (fork/exec, waiting for its
 * "Waiting for connections" line). Every test runs its own uv loop and ends
 * by closing it, which fails if a handle leaked. Broken replies, which tallyd
 * never sends, are test_peer_replies.c's. */
#include "peer_testhelp.h"

#include <bson/bson.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <uv.h>

#define TALLYD "bin/tallyd"

/* --- the real server ------------------------------------------------------ */

struct tallyd {
    pid_t pid;
    int port;
    int n_starts;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ensure_tallyd_built(void)
{
    if (access(TALLYD, X_OK) == 0)
        return;
    fprintf(stderr, "  %s is missing: building it with make\n", TALLYD);
    if (system("make -s bin/tallyd >&2") != 0 || access(TALLYD, X_OK) != 0) {
        fprintf(stderr, "test_peer needs %s (run `make bin/tallyd` from the repository root)\n", TALLYD);
        exit(2);
    }
}

/* Starts tallyd in test_dir on port (0 = ephemeral) and waits for its
 * "Waiting for connections on port N" line. Returns false on failure. */
static bool tallyd_start(struct tallyd *t, int port)
{
    char data[300], logpath[300], port_s[16], line[4096];
    const char *needle = "Waiting for connections on port ";
    int64_t give_up;

    snprintf(data, sizeof data, "%s/data", test_dir);
    snprintf(logpath, sizeof logpath, "%s/tallyd-%d.log", test_dir, ++t->n_starts);
    snprintf(port_s, sizeof port_s, "%d", port);
    if (mkdir(data, 0700) < 0 && errno != EEXIST)
        return false;
    t->pid = fork();
    if (t->pid < 0)
        return false;
    if (t->pid == 0) {
        execl(TALLYD, "tallyd", "--dbpath", data, "--port", port_s, "--bind_ip", "127.0.0.1", "--logpath", logpath,
              "-v", (char *)NULL);
        _exit(127);
    }
    give_up = mono_ms() + 15000;
    while (mono_ms() < give_up) {
        FILE *f = fopen(logpath, "r");
        if (f) {
            while (fgets(line, sizeof line, f)) {
                char *at = strstr(line, needle);
                if (at) {
                    t->port = atoi(at + strlen(needle));
                    fclose(f);
                    return t->port > 0;
                }
            }
            fclose(f);
        }
        if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            fprintf(stderr, "  tallyd exited during startup; see %s\n", logpath);
            t->pid = 0;
            return false;
        }
        usleep(20000);
    }
    fprintf(stderr, "  tallyd did not start within 15 s\n");
    return false;
}

static void tallyd_stop(struct tallyd *t)
{
    if (t->pid <= 0)
        return;
    kill(t->pid, SIGCONT);
    kill(t->pid, SIGTERM);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}

/* A port nothing listens on: bound once by the kernel, then released. */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &n) < 0)
        return 0;
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* --- tests against tallyd ------------------------------------------------- */

TEST(ping_gets_ok_from_a_real_server)
{
    struct tallyd t = {0};
    struct result r[1];
    uv_loop_t loop;
    struct peer *p;

    result_init(r, 1);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    CHECK(p != NULL);
    {
        char want[64];
        snprintf(want, sizeof want, "127.0.0.1:%d", t.port);
        CHECK_EQ_STR(peer_host_port(p), want);
    }
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[0]), 0);
    CHECK_EQ_INT(r[0].n_calls, 0); /* never from inside peer_send */
    CHECK_EQ_INT(peer_n_pending(p), 1);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK_EQ_INT(r[0].n_calls, 1);
    CHECK_EQ_INT(r[0].code, 0);
    CHECK(reply_ok(&r[0]) == 1.0);
    CHECK_EQ_INT(peer_n_pending(p), 0);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 1);
}

TEST(a_host_name_is_resolved_and_every_address_tried)
{
    struct tallyd t = {0};
    struct result r[1];
    uv_loop_t loop;
    struct peer *p;

    result_init(r, 1);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    /* localhost may resolve to ::1 first, where nothing listens. */
    p = make_peer(&loop, "localhost", t.port);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[0]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK(reply_ok(&r[0]) == 1.0);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 1);
}

TEST(insert_then_find_round_trips_a_document)
{
    struct tallyd t = {0};
    struct result r[2];
    uv_loop_t loop;
    struct peer *p;
    bson_iter_t it, v;

    result_init(r, 2);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    CHECK_EQ_INT(send_cmd(p,
                          BCON_NEW("insert", BCON_UTF8("c"), "documents", "[", "{", "_id", BCON_INT32(1), "a",
                                   BCON_UTF8("hello"), "}", "]", "$db", BCON_UTF8("test")),
                          5000, &r[0]),
                 0);
    /* Queued behind the insert, so it sees it. */
    CHECK_EQ_INT(send_cmd(p, BCON_NEW("find", BCON_UTF8("c"), "filter", "{", "_id", BCON_INT32(1), "}", "$db",
                                      BCON_UTF8("test")),
                          5000, &r[1]),
                 0);
    CHECK(run_until_done(&loop, r, 2, 10000));
    CHECK(reply_ok(&r[0]) == 1.0);
    CHECK(bson_iter_init_find(&it, &r[0].reply, "n") && bson_iter_as_int64(&it) == 1);
    CHECK(reply_ok(&r[1]) == 1.0);
    CHECK(r[0].order < r[1].order);
    CHECK(bson_iter_init(&it, &r[1].reply) && bson_iter_find_descendant(&it, "cursor.firstBatch.0.a", &v) &&
          BSON_ITER_HOLDS_UTF8(&v) && strcmp(bson_iter_utf8(&v, NULL), "hello") == 0);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 2);
}

TEST(many_concurrent_sends_complete_in_order_on_one_connection)
{
    enum { N = 300 };
    struct tallyd t = {0};
    struct result *r = xcalloc(N + 1, sizeof *r);
    uv_loop_t loop;
    struct peer *p;
    bson_iter_t it;
    bool in_order = true;

    result_init(r, N + 1);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(send_cmd(p,
                              BCON_NEW("insert", BCON_UTF8("many"), "documents", "[", "{", "i", BCON_INT32(i), "}",
                                       "]", "$db", BCON_UTF8("test")),
                              10000, &r[i]),
                     0);
    CHECK_EQ_INT(send_cmd(p, BCON_NEW("count", BCON_UTF8("many"), "$db", BCON_UTF8("test")), 10000, &r[N]), 0);
    CHECK_EQ_INT(peer_n_pending(p), N + 1);
    CHECK(run_until_done(&loop, r, N + 1, 30000));
    for (int i = 0; i <= N; i++) {
        CHECK_EQ_INT(r[i].n_calls, 1);
        if (reply_ok(&r[i]) != 1.0)
            fprintf(stderr, "  request %d: code %d %s\n", i, r[i].code, r[i].msg);
        if (i > 0 && r[i].order != r[i - 1].order + 1)
            in_order = false;
    }
    CHECK(in_order);
    CHECK(bson_iter_init_find(&it, &r[N].reply, "n") && bson_iter_as_int64(&it) == N);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, N + 1);
    free(r);
}

TEST(a_command_error_from_the_server_is_a_reply_not_a_local_error)
{
    struct tallyd t = {0};
    struct result r[1];
    uv_loop_t loop;
    struct peer *p;
    bson_iter_t it;

    result_init(r, 1);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    CHECK_EQ_INT(send_cmd(p, BCON_NEW("noSuchCommand", BCON_INT32(1), "$db", BCON_UTF8("admin")), 5000, &r[0]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK_EQ_INT(r[0].code, 0);
    CHECK(reply_ok(&r[0]) == 0.0);
    CHECK(bson_iter_init_find(&it, &r[0].reply, "code") && bson_iter_as_int64(&it) == ERR_COMMAND_NOT_FOUND);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 1);
}

TEST(a_stopped_server_times_out_and_the_next_send_reconnects)
{
    struct tallyd t = {0};
    struct result r[4];
    uv_loop_t loop;
    struct peer *p;
    int64_t start, elapsed;

    result_init(r, 4);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[0]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK(reply_ok(&r[0]) == 1.0);
    kill(t.pid, SIGSTOP);
    start = mono_ms();
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 300, &r[1]), 0);
    /* Queued behind the stuck one: its own, longer deadline runs out in the queue. */
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 600, &r[2]), 0);
    CHECK(run_until_done(&loop, r + 1, 1, 5000));
    elapsed = mono_ms() - start;
    CHECK_EQ_INT(r[1].code, ERR_NETWORK_TIMEOUT);
    CHECK(strstr(r[1].msg, "ping") != NULL && strstr(r[1].msg, "timed out") != NULL);
    CHECK(elapsed >= 250 && elapsed < 3000);
    CHECK(run_until_done(&loop, r + 2, 1, 5000));
    CHECK_EQ_INT(r[2].code, ERR_NETWORK_TIMEOUT);
    CHECK(mono_ms() - start >= 550);
    kill(t.pid, SIGCONT);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[3]), 0);
    CHECK(run_until_done(&loop, r + 3, 1, 10000));
    CHECK(reply_ok(&r[3]) == 1.0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(r[i].n_calls, 1);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 4);
}

TEST(connection_refused_fails_every_queued_request)
{
    struct result r[4];
    uv_loop_t loop;
    struct peer *p;
    int port = free_port();

    result_init(r, 4);
    uv_loop_init(&loop);
    CHECK(port > 0);
    p = make_peer(&loop, "127.0.0.1", port);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[i]), 0);
    CHECK(run_until_done(&loop, r, 3, 5000));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(r[i].n_calls, 1);
        CHECK_EQ_INT(r[i].code, ERR_HOST_UNREACHABLE);
        CHECK(strstr(r[i].msg, "refused") != NULL);
    }
    /* The next send tries again (after the backoff) and fails the same way. */
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[3]), 0);
    CHECK(run_until_done(&loop, r + 3, 1, 5000));
    CHECK_EQ_INT(r[3].code, ERR_HOST_UNREACHABLE);
    finish_loop(&loop, p);
    result_destroy(r, 4);
}

TEST(a_server_restart_fails_the_request_then_the_peer_reconnects)
{
    struct tallyd t = {0};
    struct result r[3];
    uv_loop_t loop;
    struct peer *p;
    int port;

    result_init(r, 3);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    port = t.port;
    p = make_peer(&loop, "127.0.0.1", port);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[0]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK(reply_ok(&r[0]) == 1.0);
    tallyd_stop(&t);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[1]), 0);
    CHECK(run_until_done(&loop, r + 1, 1, 10000));
    CHECK_EQ_INT(r[1].code, ERR_HOST_UNREACHABLE);
    CHECK(tallyd_start(&t, port));
    CHECK_EQ_INT(t.port, port);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[2]), 0);
    CHECK(run_until_done(&loop, r + 2, 1, 10000));
    CHECK(reply_ok(&r[2]) == 1.0);
    finish_loop(&loop, p);
    tallyd_stop(&t);
    result_destroy(r, 3);
}

TEST(destroy_with_requests_in_flight_runs_every_callback_exactly_once)
{
    enum { N = 50 };
    struct tallyd t = {0};
    struct result r[N];
    uv_loop_t loop;
    struct peer *p;
    int n_replies = 0, n_errors = 0;

    result_init(r, N);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    p = make_peer(&loop, "127.0.0.1", t.port);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[i]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000)); /* the first is done; the second is on the wire */
    peer_destroy(p);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(r[i].n_calls, 1);
        if (r[i].code == 0)
            n_replies++;
        else if (r[i].code == ERR_SHUTDOWN_IN_PROGRESS)
            n_errors++;
    }
    CHECK(n_replies >= 1);
    CHECK(n_errors >= 1);
    CHECK_EQ_INT(n_replies + n_errors, N);
    finish_loop(&loop, NULL);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(r[i].n_calls, 1);
    tallyd_stop(&t);
    result_destroy(r, N);
}

TEST(destroy_before_the_connection_opens_completes_the_request)
{
    struct result r[1];
    uv_loop_t loop;
    struct peer *p;

    result_init(r, 1);
    uv_loop_init(&loop);
    p = make_peer(&loop, "127.0.0.1", 9);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 5000, &r[0]), 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* the lookup starts */
    peer_destroy(p);
    CHECK_EQ_INT(r[0].n_calls, 1);
    CHECK_EQ_INT(r[0].code, ERR_SHUTDOWN_IN_PROGRESS);
    finish_loop(&loop, NULL);
    CHECK_EQ_INT(r[0].n_calls, 1);
    result_destroy(r, 1);
}

/* A callback that destroys its own peer, or sends again on it. */
struct reentry {
    struct peer *p;
    struct result *r;
    int n_more; /* sends left to chain */
    int n_chained;
};

static void on_reply_destroy(void *arg, const bson_t *reply, const struct err *e)
{
    struct reentry *x = arg;
    on_reply(x->r, reply, e);
    peer_destroy(x->p);
}

static void on_reply_chain(void *arg, const bson_t *reply, const struct err *e)
{
    struct reentry *x = arg;
    struct err e2;

    CHECK(reply != NULL && e == NULL);
    x->n_chained++;
    err_init(&e2);
    if (x->n_more-- > 0) {
        bson_t *cmd = ping_cmd();
        CHECK_EQ_INT(peer_send(x->p, cmd, 5000, on_reply_chain, x, &e2), 0);
        bson_destroy(cmd);
    } else {
        x->r->n_calls++;
    }
    err_clear(&e2);
}

TEST(a_callback_may_destroy_its_peer_and_the_rest_fail_at_once)
{
    struct tallyd t = {0};
    struct result r[4];
    struct reentry x;
    uv_loop_t loop;
    struct err e;
    bson_t *cmd = ping_cmd();

    result_init(r, 4);
    err_init(&e);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    x.p = make_peer(&loop, "127.0.0.1", t.port);
    x.r = &r[0];
    CHECK_EQ_INT(peer_send(x.p, cmd, 5000, on_reply_destroy, &x, &e), 0);
    for (int i = 1; i < 4; i++)
        CHECK_EQ_INT(send_cmd(x.p, ping_cmd(), 5000, &r[i]), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK_EQ_INT(r[0].code, 0);
    for (int i = 1; i < 4; i++) {
        CHECK_EQ_INT(r[i].n_calls, 1);
        CHECK_EQ_INT(r[i].code, ERR_SHUTDOWN_IN_PROGRESS);
    }
    finish_loop(&loop, NULL);
    bson_destroy(cmd);
    err_clear(&e);
    tallyd_stop(&t);
    result_destroy(r, 4);
}

TEST(a_callback_may_send_the_next_request)
{
    struct tallyd t = {0};
    struct result r[1];
    struct reentry x;
    uv_loop_t loop;
    struct err e;
    bson_t *cmd = ping_cmd();

    result_init(r, 1);
    err_init(&e);
    uv_loop_init(&loop);
    CHECK(tallyd_start(&t, 0));
    x.p = make_peer(&loop, "127.0.0.1", t.port);
    x.r = &r[0];
    x.n_more = 20;
    x.n_chained = 0;
    CHECK_EQ_INT(peer_send(x.p, cmd, 5000, on_reply_chain, &x, &e), 0);
    CHECK(run_until_done(&loop, r, 1, 10000));
    CHECK_EQ_INT(x.n_chained, 21);
    finish_loop(&loop, x.p);
    bson_destroy(cmd);
    err_clear(&e);
    tallyd_stop(&t);
    result_destroy(r, 1);
}

/* --- argument checks --------------------------------------------------------- */

TEST(malformed_host_port_strings_are_refused)
{
    static const char *const bad[] = {"nohost", "host:", "host:0", "host:65536", ":27017", "[::1]27017",
                                      "host:12a", "[::1", "h:-1"};
    uv_loop_t loop;
    struct peer *p = NULL;
    struct err e;

    err_init(&e);
    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(peer_create(&loop, bad[i], &p, &e), -ERR_FAILED_TO_PARSE);
        CHECK(p == NULL);
    }
    CHECK_EQ_INT(peer_create(&loop, "[::1]:27017", &p, &e), 0);
    CHECK(p != NULL);
    CHECK_EQ_STR(peer_host_port(p), "[::1]:27017");
    finish_loop(&loop, p);
    err_clear(&e);
}

TEST(peer_send_refuses_a_command_without_db_and_a_negative_timeout)
{
    uv_loop_t loop;
    struct peer *p = NULL;
    struct result r[1];
    struct err e;
    bson_t *no_db = BCON_NEW("ping", BCON_INT32(1)), *cmd = ping_cmd();

    result_init(r, 1);
    err_init(&e);
    uv_loop_init(&loop);
    CHECK_EQ_INT(peer_create(&loop, "127.0.0.1:1", &p, &e), 0);
    CHECK_EQ_INT(peer_send(p, no_db, 100, on_reply, &r[0], &e), -ERR_FAILED_TO_PARSE);
    CHECK_EQ_INT(peer_send(p, cmd, -1, on_reply, &r[0], &e), -ERR_BAD_VALUE);
    CHECK_EQ_INT(peer_n_pending(p), 0);
    finish_loop(&loop, p);
    CHECK_EQ_INT(r[0].n_calls, 0);
    bson_destroy(no_db);
    bson_destroy(cmd);
    err_clear(&e);
    result_destroy(r, 1);
}

TEST(an_unresolvable_host_fails_the_request)
{
    struct result r[1];
    uv_loop_t loop;
    struct peer *p;

    result_init(r, 1);
    uv_loop_init(&loop);
    p = make_peer(&loop, "no-such-host.invalid", 27017);
    CHECK_EQ_INT(send_cmd(p, ping_cmd(), 8000, &r[0]), 0);
    CHECK(run_until_done(&loop, r, 1, 15000));
    CHECK_EQ_INT(r[0].n_calls, 1);
    /* A resolver that cannot be reached answers only by timing out. */
    CHECK(r[0].code == ERR_HOST_NOT_FOUND || r[0].code == ERR_NETWORK_TIMEOUT);
    finish_loop(&loop, p);
    result_destroy(r, 1);
}


int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ensure_tallyd_built();
    RUN(ping_gets_ok_from_a_real_server);
    RUN(a_host_name_is_resolved_and_every_address_tried);
    RUN(insert_then_find_round_trips_a_document);
    RUN(many_concurrent_sends_complete_in_order_on_one_connection);
    RUN(a_command_error_from_the_server_is_a_reply_not_a_local_error);
    RUN(a_stopped_server_times_out_and_the_next_send_reconnects);
    RUN(connection_refused_fails_every_queued_request);
    RUN(a_server_restart_fails_the_request_then_the_peer_reconnects);
    RUN(destroy_with_requests_in_flight_runs_every_callback_exactly_once);
    RUN(destroy_before_the_connection_opens_completes_the_request);
    RUN(a_callback_may_destroy_its_peer_and_the_rest_fail_at_once);
    RUN(a_callback_may_send_the_next_request);
    RUN(malformed_host_port_strings_are_refused);
    RUN(peer_send_refuses_a_command_without_db_and_a_negative_timeout);
    RUN(an_unresolvable_host_fails_the_request);
    return test_report();
}
