/* Process control for one local cluster member (see member.h).
 *
 * A member is a tallyd started in its own session (setsid) so it outlives
 * `tally` and ignores the terminal's signals; its pid file in the cluster
 * folder is how later `tally` runs find it. A pid counts as the member only
 * while /proc shows a live process whose command line carries the member's
 * --dbpath: a stale pid file or a recycled pid never gets a signal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "member.h"

void member_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void member_init(struct member *m, const char *dir, const char *name, int port, bool is_arbiter)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->host, sizeof m->host, "127.0.0.1:%d", port);
    m->port = port;
    m->is_arbiter = is_arbiter;
    snprintf(m->dbpath, sizeof m->dbpath, "%s/%s", dir, name);
    snprintf(m->logpath, sizeof m->logpath, "%s/tallyd.log", m->dbpath);
    snprintf(m->outpath, sizeof m->outpath, "%s/stderr.log", m->dbpath);
    snprintf(m->pidpath, sizeof m->pidpath, "%s/%s.pid", dir, name);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

_Noreturn void member_exec_child(char *const argv[], const char *outpath, int out_flags)
{
    int in = open("/dev/null", O_RDONLY);
    int out = open(outpath, O_WRONLY | O_CREAT | out_flags, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
        _exit(126);
    }
    /* The parent's signal mask and handlers are not the server's business. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv);
    static const char msg[] = "tally: cannot run the server binary\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        _exit(127);
    }
    _exit(127);
}

int member_spawn(struct member *m, const char *tallyd, const char *set_name, char *errbuf, size_t errlen)
{
    if (mkdir(m->dbpath, 0755) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "cannot create %s: %s", m->dbpath, strerror(errno));
        return -1;
    }
    m->log_offset = file_size(m->logpath);
    m->out_offset = file_size(m->outpath);
    char port[16];
    snprintf(port, sizeof port, "%d", m->port);
    char *argv[] = {(char *)tallyd, "--replSet", (char *)set_name, "--port", port,
                    "--dbpath", m->dbpath, "--bind_ip", "127.0.0.1", "--logpath", m->logpath, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errbuf, errlen, "cannot start %s: fork: %s", m->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Its own session, so a terminal's signals for tally do not reach it. */
        setsid();
        if (chdir(m->dbpath) != 0) {
            _exit(126);
        }
        member_exec_child(argv, m->outpath, O_APPEND);
    }
    m->pid = pid;
    m->is_child = true;
    FILE *f = fopen(m->pidpath, "we");
    if (f == NULL || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", m->pidpath, strerror(errno));
        return -1;
    }
    return 0;
}

bool member_is_ready(const struct member *m)
{
    FILE *f = fopen(m->logpath, "re");
    if (f == NULL) {
        return false;
    }
    bool is_ready = false;
    if (fseek(f, m->log_offset, SEEK_SET) == 0) {
        char line[4096];
        while (!is_ready && fgets(line, sizeof line, f) != NULL) {
            is_ready = strstr(line, "Waiting for connections") != NULL;
        }
    }
    fclose(f);
    return is_ready;
}

bool member_has_exited(struct member *m, char *status, size_t status_len)
{
    int st;
    pid_t r = waitpid(m->pid, &st, WNOHANG);
    if (r != m->pid) {
        return false;
    }
    if (WIFEXITED(st)) {
        snprintf(status, status_len, "exited with code %d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        snprintf(status, status_len, "was killed by signal %d", WTERMSIG(st));
    } else {
        snprintf(status, status_len, "stopped");
    }
    m->is_child = false;
    m->pid = 0;
    return true;
}

bool member_pid_alive(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) != 0) {
        return false;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return errno != ENOENT;
    }
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The state letter follows the last ')' (the command name may hold any). */
    const char *p = strrchr(buf, ')');
    return !(p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* True when /proc/pid/cmdline holds "--dbpath" followed by dbpath. */
static bool cmdline_serves(pid_t pid, const char *dbpath)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    bool prev_is_flag = false;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (prev_is_flag && strcmp(buf + i, dbpath) == 0) {
            return true;
        }
        prev_is_flag = strcmp(buf + i, "--dbpath") == 0;
    }
    return false;
}

bool member_read_running(struct member *m)
{
    FILE *f = fopen(m->pidpath, "re");
    if (f == NULL) {
        return false;
    }
    int pid = 0;
    bool is_read = fscanf(f, "%d", &pid) == 1;
    fclose(f);
    if (!is_read || pid <= 1 || !member_pid_alive(pid) || !cmdline_serves(pid, m->dbpath)) {
        return false;
    }
    m->pid = pid;
    return true;
}

static bool still_running(struct member *m)
{
    if (m->is_child) {
        char status[64];
        return !member_has_exited(m, status, sizeof status);
    }
    return member_pid_alive(m->pid);
}

int member_stop(struct member *m, int timeout_ms, bool is_signalled)
{
    int rc = 0;
    if (m->pid > 0 && still_running(m)) {
        if (!is_signalled) {
            kill(m->pid, SIGTERM);
        }
        int waited_ms = 0;
        while (still_running(m) && waited_ms < timeout_ms) {
            member_sleep_ms(20);
            waited_ms += 20;
        }
        if (m->pid > 0 && still_running(m)) {
            kill(m->pid, SIGKILL);
            while (m->pid > 0 && still_running(m)) {
                member_sleep_ms(20);
            }
            rc = 1;
        }
    }
    m->pid = 0;
    m->is_child = false;
    unlink(m->pidpath);
    return rc;
}

static void print_file_tail(const char *path, long from, int n_lines)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return;
    }
    /* Reading the last 64 KiB is enough for a tail and bounds the work. */
    long size = file_size(path);
    long start = size - 65536 > from ? size - 65536 : from;
    if (start < 0 || start > size) {
        start = 0;
    }
    static char buf[65537];
    size_t n = 0;
    if (fseek(f, start, SEEK_SET) == 0) {
        n = fread(buf, 1, sizeof buf - 1, f);
    }
    fclose(f);
    buf[n] = '\0';
    if (n == 0) {
        return;
    }
    size_t at = n;
    int seen = 0;
    if (buf[at - 1] == '\n') {
        at--;
    }
    while (at > 0) {
        if (buf[at - 1] == '\n' && ++seen == n_lines) {
            break;
        }
        at--;
    }
    fprintf(stderr, "  --- %s ---\n", path);
    for (const char *line = buf + at; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(stderr, "  | %.*s\n", len, line);
        line += len + (nl ? 1 : 0);
    }
}

void member_print_tail(const struct member *m, int n_lines)
{
    fprintf(stderr, "%s (%s%s) log tail:\n", m->name, m->host, m->is_arbiter ? ", arbiter" : "");
    long before = file_size(m->logpath);
    print_file_tail(m->logpath, m->log_offset, n_lines);
    print_file_tail(m->outpath, m->out_offset, n_lines);
    if (before <= m->log_offset && file_size(m->outpath) <= m->out_offset) {
        fprintf(stderr, "  (no output)\n");
    }
}
