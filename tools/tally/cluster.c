/* `tally cluster up` and `tally cluster down`: a local replica set on
 * 127.0.0.1 with everything under one folder.
 *
 * Folder layout: DIR/cluster.info (set name and members, for status and
 * down), DIR/mN/ (member N's dbpath, tallyd.log and stderr.log), DIR/mN.pid.
 * `up` either ends with a set that has a writable primary and prints its
 * connection string on stdout, or stops every member it started, says which
 * step failed (with the members' log tails) and exits 1: a failed `up` leaves
 * no process behind. When redis-server is installed, `up` also starts the
 * backup catalog's Redis (DIR/redis, DIR/redis.pid, DIR/redis.url) and
 * `down` stops it. It refuses to touch a folder whose members still run or
 * ports that are taken. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "member.h"
#include "tally.h"

enum {
    READY_TIMEOUT_MS = 30000,   /* a member's start-up, up to "Waiting for connections" */
    STOP_TIMEOUT_MS = 30000,    /* SIGTERM to exit, before SIGKILL */
    LOG_TAIL_LINES = 15,
    POLL_MS = 100,
};

struct cluster {
    char dir[PATH_MAX];          /* absolute */
    char set_name[80];
    int n_members;               /* entries of m[], arbiter included */
    struct member m[TALLY_MAX_HOSTS];
};

/* Set by SIGINT/SIGTERM while `up` runs: the members live in their own
 * session and would not see a Ctrl-C, so `up` stops them itself. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int signum)
{
    interrupted = signum;
}

static bool check_interrupted(void)
{
    if (interrupted) {
        fprintf(stderr, "tally: interrupted by signal %d\n", (int)interrupted);
        return true;
    }
    return false;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tally_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* --tallyd, else $TALLYD, else tallyd next to this binary, else PATH. The
 * result is absolute because members run with their own folder as cwd. */
bool tally_find_tallyd(const char *given, char *out, size_t out_len)
{
    const char *cand = given ? given : getenv("TALLYD");
    char buf[PATH_MAX];
    if (cand == NULL || *cand == '\0') {
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 16);
        if (n > 0) {
            buf[n] = '\0';
            char *slash = strrchr(buf, '/');
            if (slash != NULL) {
                strcpy(slash + 1, "tallyd");
                if (access(buf, X_OK) == 0) {
                    cand = buf;
                }
            }
        }
    }
    if (cand == NULL || *cand == '\0') {
        const char *path = getenv("PATH");
        while (path != NULL && *path != '\0') {
            size_t len = strcspn(path, ":");
            snprintf(buf, sizeof buf, "%.*s/tallyd", (int)len, path);
            if (len > 0 && access(buf, X_OK) == 0) {
                cand = buf;
                break;
            }
            path += len + (path[len] == ':' ? 1 : 0);
        }
    }
    if (cand == NULL || *cand == '\0') {
        snprintf(out, out_len, "no tallyd found (give --tallyd PATH, set $TALLYD, or run `make`)");
        return false;
    }
    char abs[PATH_MAX];
    if (realpath(cand, abs) == NULL || access(abs, X_OK) != 0) {
        snprintf(out, out_len, "cannot run the server binary %s: %s", cand, strerror(errno ? errno : EACCES));
        return false;
    }
    snprintf(out, out_len, "%s", abs);
    return true;
}

static void cluster_layout(struct cluster *c, const char *dir, const struct tally_opts *o)
{
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    snprintf(c->set_name, sizeof c->set_name, "%s", o->set_name);
    c->n_members = o->n_members + (o->is_arbiter ? 1 : 0);
    for (int i = 0; i < c->n_members; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i + 1);
        member_init(&c->m[i], dir, name, o->base_port + i, i >= o->n_members);
    }
}

/* Reads DIR/cluster.info into c (members named there, with their ports).
 * Returns false when the file is missing or malformed. */
static bool cluster_load(struct cluster *c, const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cluster.info", dir);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    char line[256];
    bool is_ok = true;
    while (is_ok && fgets(line, sizeof line, f) != NULL) {
        char kind[16], name[16];
        int port;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "set %79s", c->set_name) == 1) {
            continue;
        }
        if (sscanf(line, "%15s %15s %d", kind, name, &port) != 3 || port < 1 || port > 65535 ||
            c->n_members >= TALLY_MAX_HOSTS || (strcmp(kind, "member") != 0 && strcmp(kind, "arbiter") != 0)) {
            is_ok = false;
            break;
        }
        member_init(&c->m[c->n_members++], dir, name, port, strcmp(kind, "arbiter") == 0);
    }
    fclose(f);
    return is_ok && c->n_members > 0;
}

static int cluster_save(const struct cluster *c, char *errbuf, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cluster.info", c->dir);
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        snprintf(errbuf, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# written by `tally cluster up`; read by `tally status` and `tally cluster down`\n");
    fprintf(f, "set %s\n", c->set_name);
    for (int i = 0; i < c->n_members; i++) {
        fprintf(f, "%s %s %d\n", c->m[i].is_arbiter ? "arbiter" : "member", c->m[i].name, c->m[i].port);
    }
    if (fclose(f) != 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int tally_cluster_hosts(const char *dir, char hosts[][64], int max_hosts)
{
    char abs[PATH_MAX];
    static struct cluster c;
    if (realpath(dir, abs) == NULL || !cluster_load(&c, abs)) {
        return 0;
    }
    int n = c.n_members < max_hosts ? c.n_members : max_hosts;
    for (int i = 0; i < n; i++) {
        snprintf(hosts[i], 64, "%s", c.m[i].host);
    }
    return n;
}

/* A listener on 127.0.0.1:port makes bind fail even with SO_REUSEADDR, which
 * the server sets too, so this answers exactly "could tallyd listen here". */
static bool port_is_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool is_free = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return is_free;
}

/* Stops every member this process started; used on any failure of `up`. */
static void stop_started(struct cluster *c)
{
    int n_stopped = 0;
    for (int i = 0; i < c->n_members; i++) {
        if (c->m[i].pid > 0) {
            member_stop(&c->m[i], STOP_TIMEOUT_MS, false);
            n_stopped++;
        }
    }
    if (n_stopped > 0) {
        fprintf(stderr, "tally: stopped the %d member%s started; nothing is left running\n", n_stopped,
                n_stopped == 1 ? "" : "s");
    }
}

static void print_all_tails(const struct cluster *c)
{
    for (int i = 0; i < c->n_members; i++) {
        member_print_tail(&c->m[i], LOG_TAIL_LINES);
    }
}

/* If a started member has exited, reports it with its log and returns true. */
static bool any_member_exited(struct cluster *c, const char *during)
{
    for (int i = 0; i < c->n_members; i++) {
        char status[64];
        struct member *m = &c->m[i];
        if (m->pid > 0 && m->is_child && member_has_exited(m, status, sizeof status)) {
            fprintf(stderr, "tally: member %s (%s) %s %s\n", m->name, m->host, status, during);
            member_print_tail(m, LOG_TAIL_LINES);
            return true;
        }
    }
    return false;
}

static int wait_ready(struct cluster *c)
{
    long deadline = now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        if (check_interrupted() || any_member_exited(c, "during start-up")) {
            return -1;
        }
        int n_ready = 0;
        for (int i = 0; i < c->n_members; i++) {
            n_ready += member_is_ready(&c->m[i]) ? 1 : 0;
        }
        if (n_ready == c->n_members) {
            return 0;
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "tally: %d of %d members were not waiting for connections after %d s\n",
                    c->n_members - n_ready, c->n_members, READY_TIMEOUT_MS / 1000);
            print_all_tails(c);
            return -1;
        }
        member_sleep_ms(POLL_MS);
    }
}

static void build_initiate(const struct cluster *c, const struct tally_opts *o, bson_t *cmd)
{
    bson_t cfg, members, settings;
    BSON_APPEND_DOCUMENT_BEGIN(cmd, "replSetInitiate", &cfg);
    BSON_APPEND_UTF8(&cfg, "_id", c->set_name);
    BSON_APPEND_INT32(&cfg, "version", 1);
    BSON_APPEND_ARRAY_BEGIN(&cfg, "members", &members);
    for (int i = 0; i < c->n_members; i++) {
        char key[16];
        bson_t mem;
        snprintf(key, sizeof key, "%d", i);
        BSON_APPEND_DOCUMENT_BEGIN(&members, key, &mem);
        BSON_APPEND_INT32(&mem, "_id", i);
        BSON_APPEND_UTF8(&mem, "host", c->m[i].host);
        if (c->m[i].is_arbiter) {
            BSON_APPEND_BOOL(&mem, "arbiterOnly", true);
        }
        bson_append_document_end(&members, &mem);
    }
    bson_append_array_end(&cfg, &members);
    /* --fast: the timers the tests use; otherwise mongod's defaults. */
    BSON_APPEND_DOCUMENT_BEGIN(&cfg, "settings", &settings);
    BSON_APPEND_INT32(&settings, "heartbeatIntervalMillis", o->is_fast ? 200 : 2000);
    BSON_APPEND_INT32(&settings, "electionTimeoutMillis", o->is_fast ? 1000 : 10000);
    bson_append_document_end(&cfg, &settings);
    bson_append_document_end(cmd, &cfg);
}

static int initiate(struct cluster *c, const struct tally_opts *o)
{
    char errbuf[512];
    const struct member *first = &c->m[0];
    mongoc_client_t *client = client_open_direct(first->host, 5000, errbuf, sizeof errbuf);
    if (client == NULL) {
        fprintf(stderr, "tally: replSetInitiate on %s failed: %s\n", first->host, errbuf);
        return -1;
    }
    bson_t cmd = BSON_INITIALIZER;
    build_initiate(c, o, &cmd);
    bson_t reply;
    int rc = client_run_admin(client, &cmd, &reply, errbuf, sizeof errbuf);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_client_destroy(client);
    if (rc != 0) {
        fprintf(stderr, "tally: replSetInitiate on %s failed: %s\n", first->host, errbuf);
        if (rc == 59) {
            fprintf(stderr, "tally: this tallyd has no replica-set commands (it runs standalone)\n");
        }
        return -1;
    }
    return 0;
}

/* Returns the index of the writable primary, or -1 after the timeout. */
static int wait_primary(struct cluster *c, int timeout_s)
{
    long deadline = now_ms() + (long)timeout_s * 1000;
    for (;;) {
        if (check_interrupted() || any_member_exited(c, "while the set elected a primary")) {
            return -1;
        }
        for (int i = 0; i < c->n_members; i++) {
            if (!c->m[i].is_arbiter && client_is_writable_primary(c->m[i].host, 1000)) {
                return i;
            }
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "tally: no member became primary within %d s (see --timeout); log tails:\n",
                    timeout_s);
            print_all_tails(c);
            return -1;
        }
        member_sleep_ms(200);
    }
}

/* Refuses a folder with a running member: their data would be shared. */
static bool refuse_if_running(const char *dir)
{
    static struct cluster c;
    if (!cluster_load(&c, dir)) {
        /* No record: still look for pid files of any member name. */
        c.n_members = TALLY_MAX_HOSTS;
        for (int i = 0; i < TALLY_MAX_HOSTS; i++) {
            char name[16];
            snprintf(name, sizeof name, "m%d", i + 1);
            member_init(&c.m[i], dir, name, 0, false);
        }
    }
    for (int i = 0; i < c.n_members; i++) {
        if (member_read_running(&c.m[i])) {
            fprintf(stderr, "tally: the cluster in %s is already up (%s, pid %d); `tally cluster down` first\n",
                    dir, c.m[i].name, (int)c.m[i].pid);
            return true;
        }
    }
    return false;
}

/* The catalog's Redis (backup metadata staging, docs/backups.md): started
 * by `up` when redis-server is installed, as a daemon with its data in
 * DIR/redis and its pid in DIR/redis.pid, on base port + 100 or else any free
 * port; DIR/redis.url holds its URL. Optional: a failure is a warning. */
static bool find_in_path(const char *name, char *out, size_t out_len)
{
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        size_t len = strcspn(path, ":");
        snprintf(out, out_len, "%.*s/%s", (int)len, path, name);
        if (len > 0 && access(out, X_OK) == 0) {
            return true;
        }
        path += len + (path[len] == ':' ? 1 : 0);
    }
    return false;
}

static int any_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static bool port_answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool is_up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return is_up;
}

static pid_t read_pid_file(const char *path)
{
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    return pid > 0 && member_pid_alive((pid_t)pid) ? (pid_t)pid : 0;
}

static void start_catalog_redis(const char *dir, int base_port)
{
    char server[PATH_MAX];
    if (!find_in_path("redis-server", server, sizeof server)) {
        fprintf(stderr, "tally: redis-server is not installed: backup events will be spooled on disk\n");
        return;
    }
    char data[PATH_MAX + 16], pidfile[PATH_MAX + 16], urlfile[PATH_MAX + 16], port_str[16];
    snprintf(data, sizeof data, "%s/redis", dir);
    snprintf(pidfile, sizeof pidfile, "%s/redis.pid", dir);
    snprintf(urlfile, sizeof urlfile, "%s/redis.url", dir);
    int port = base_port + 100 <= 65535 && port_is_free(base_port + 100) ? base_port + 100 : any_free_port();
    if (port <= 0 || tally_mkdir_p(data) != 0) {
        fprintf(stderr, "tally: cannot prepare the catalog Redis in %s; backup events will be spooled\n", data);
        return;
    }
    snprintf(port_str, sizeof port_str, "%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd >= 0) {
            dup2(null_fd, 0);
            dup2(null_fd, 1);
        }
        execl(server, "redis-server", "--port", port_str, "--bind", "127.0.0.1", "--dir", data,
              "--daemonize", "yes", "--pidfile", pidfile, "--logfile", "redis.log", "--save", "",
              "--appendonly", "yes", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tally: redis-server did not start (see %s/redis.log); backup events will be spooled\n",
                data);
        return;
    }
    long deadline = now_ms() + 10000;
    while (!port_answers(port) && now_ms() < deadline) {
        member_sleep_ms(POLL_MS);
    }
    FILE *f = fopen(urlfile, "we");
    if (f != NULL) {
        fprintf(f, "redis://127.0.0.1:%d/0\n", port);
        fclose(f);
    }
    fprintf(stderr, "tally: catalog Redis on redis://127.0.0.1:%d/0 (data in %s); backups use it with --redis "
            "or TALLY_REDIS_URL\n", port, data);
}

static void stop_catalog_redis(const char *dir)
{
    char pidfile[PATH_MAX + 16];
    snprintf(pidfile, sizeof pidfile, "%s/redis.pid", dir);
    pid_t pid = read_pid_file(pidfile);
    if (pid <= 0) {
        return;
    }
    kill(pid, SIGTERM);
    long deadline = now_ms() + STOP_TIMEOUT_MS;
    while (member_pid_alive(pid) && now_ms() < deadline) {
        member_sleep_ms(POLL_MS);
    }
    if (member_pid_alive(pid)) {
        kill(pid, SIGKILL);
        printf("catalog Redis (pid %d) did not stop within %d s of SIGTERM; killed it\n", (int)pid,
               STOP_TIMEOUT_MS / 1000);
    } else {
        printf("stopped the catalog Redis (pid %d)\n", (int)pid);
    }
    unlink(pidfile);
}

int tally_cluster_up(const struct tally_opts *o)
{
    char tallyd[PATH_MAX + 128];
    if (!tally_find_tallyd(o->tallyd, tallyd, sizeof tallyd)) {
        fprintf(stderr, "tally: %s\n", tallyd);
        return 1;
    }
    char dir[PATH_MAX];
    if (tally_mkdir_p(o->dir) != 0 || realpath(o->dir, dir) == NULL) {
        fprintf(stderr, "tally: cannot create the cluster folder %s: %s\n", o->dir, strerror(errno));
        return 1;
    }
    if (refuse_if_running(dir)) {
        return 1;
    }
    static struct cluster c;
    cluster_layout(&c, dir, o);
    for (int i = 0; i < c.n_members; i++) {
        if (!port_is_free(c.m[i].port)) {
            fprintf(stderr, "tally: port %d (for %s) is in use on 127.0.0.1; choose another --base-port\n",
                    c.m[i].port, c.m[i].name);
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char errbuf[PATH_MAX + 256];
    if (cluster_save(&c, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "tally: %s\n", errbuf);
        return 1;
    }
    for (int i = 0; i < c.n_members; i++) {
        if (member_spawn(&c.m[i], tallyd, c.set_name, errbuf, sizeof errbuf) != 0) {
            fprintf(stderr, "tally: %s\n", errbuf);
            stop_started(&c);
            return 1;
        }
    }
    fprintf(stderr, "tally: started %d member%s of %s in %s; initiating\n", c.n_members,
            c.n_members == 1 ? "" : "s", c.set_name, dir);
    if (wait_ready(&c) != 0 || check_interrupted() || initiate(&c, o) != 0) {
        stop_started(&c);
        return 1;
    }
    int primary = wait_primary(&c, o->timeout_s);
    if (primary < 0) {
        stop_started(&c);
        return 1;
    }
    start_catalog_redis(dir, o->base_port);
    fprintf(stderr, "tally: %s is up; primary %s; data and logs in %s; stop it with `tally cluster down%s%s`\n",
            c.set_name, c.m[primary].host, dir, strcmp(o->dir, "./.tally/cluster") ? " --dir " : "",
            strcmp(o->dir, "./.tally/cluster") ? o->dir : "");
    printf("mongodb://");
    int n_printed = 0;
    for (int i = 0; i < c.n_members; i++) {
        if (!c.m[i].is_arbiter) {
            printf("%s%s", n_printed++ ? "," : "", c.m[i].host);
        }
    }
    printf("/?replicaSet=%s\n", c.set_name);
    return 0;
}

int tally_cluster_down(const struct tally_opts *o)
{
    char dir[PATH_MAX];
    if (realpath(o->dir, dir) == NULL) {
        printf("nothing is running in %s (no such folder)\n", o->dir);
        return 0;
    }
    static struct cluster c;
    if (!cluster_load(&c, dir)) {
        memset(&c, 0, sizeof c);
        c.n_members = TALLY_MAX_HOSTS;
        for (int i = 0; i < TALLY_MAX_HOSTS; i++) {
            char name[16];
            snprintf(name, sizeof name, "m%d", i + 1);
            member_init(&c.m[i], dir, name, 0, false);
        }
    }
    stop_catalog_redis(dir);
    int n_running = 0;
    for (int i = 0; i < c.n_members; i++) {
        struct member *m = &c.m[i];
        if (member_read_running(m)) {
            n_running++;
            kill(m->pid, SIGTERM);
        } else {
            unlink(m->pidpath);
        }
    }
    if (n_running == 0) {
        printf("nothing is running in %s\n", dir);
        return 0;
    }
    int rc = 0;
    for (int i = 0; i < c.n_members; i++) {
        struct member *m = &c.m[i];
        if (m->pid <= 0) {
            continue;
        }
        pid_t pid = m->pid;
        /* Signalled above, so all members shut down in parallel. */
        const char *where = m->port > 0 ? m->host : "port not recorded";
        if (member_stop(m, STOP_TIMEOUT_MS, true) == 0) {
            printf("stopped %s (pid %d, %s)\n", m->name, (int)pid, where);
        } else {
            printf("%s (pid %d, %s) did not stop within %d s of SIGTERM; killed it\n", m->name, (int)pid, where,
                   STOP_TIMEOUT_MS / 1000);
            rc = 1;
        }
    }
    return rc;
}
