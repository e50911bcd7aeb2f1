/* A temporary standalone tallyd on a data directory, for restores and for
 * the per-collection hashes of a full backup.
 *
 * It listens on 127.0.0.1 on a port the kernel picks (--port 0; the log's
 * "Waiting for connections on port N" line says which), runs in its own
 * process group with its output in a log file, and is always stopped by the
 * code that started it: a shutdown command, then SIGTERM, then SIGKILL. The
 * binary is found the way `tally cluster up` finds it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup_int.h"
#include "member.h"
#include "tally.h"

#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 30000

int tmp_server_find_binary(const char *given, char *out, size_t out_len, struct backup_error *err)
{
    char found[PATH_MAX];
    if (!tally_find_tallyd(given, found, sizeof found)) {
        snprintf(err->msg, sizeof err->msg, "cannot open the restored data: %s", found);
        return -1;
    }
    snprintf(out, out_len, "%s", found);
    return 0;
}

/* The port from the log's "Waiting for connections on port N"; 0 while absent. */
static int port_from_log(const char *logpath)
{
    FILE *f = fopen(logpath, "re");
    if (f == NULL)
        return 0;
    char line[4096];
    int port = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, "Waiting for connections on port ");
        if (p != NULL)
            port = atoi(p + strlen("Waiting for connections on port "));
    }
    fclose(f);
    return port;
}

int tmp_server_start(const char *tallyd, const char *dbpath, const char *logpath, struct tmp_server *s,
                     struct backup_error *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->logpath, sizeof s->logpath, "%s", logpath);
    unlink(logpath);
    char outpath[4300];
    snprintf(outpath, sizeof outpath, "%s.out", logpath);
    char *argv[] = {(char *)tallyd, "--port", "0", "--bind_ip", "127.0.0.1", "--dbpath", (char *)dbpath,
                    "--logpath", (char *)logpath, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err->msg, sizeof err->msg, "cannot start tallyd: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        member_exec_child(argv, outpath, O_TRUNC);
    }
    s->pid = pid;
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            snprintf(err->msg, sizeof err->msg,
                     "the temporary tallyd on %s exited at start (code %d); see %s and %s", dbpath,
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), logpath, outpath);
            return -1;
        }
        s->port = port_from_log(logpath);
        if (s->port > 0)
            break;
        member_sleep_ms(50);
    }
    if (s->port <= 0) {
        snprintf(err->msg, sizeof err->msg, "the temporary tallyd on %s did not start listening; see %s", dbpath,
                 logpath);
        tmp_server_stop(s, err);
        return -1;
    }
    snprintf(s->host, sizeof s->host, "127.0.0.1:%d", s->port);
    char ebuf[512];
    s->client = client_open_direct(s->host, 10000, ebuf, sizeof ebuf);
    if (s->client == NULL) {
        snprintf(err->msg, sizeof err->msg, "cannot connect to the temporary tallyd: %s", ebuf);
        tmp_server_stop(s, err);
        return -1;
    }
    unlink(outpath);
    return 0;
}

int tmp_server_command(struct tmp_server *s, const bson_t *cmd, bson_t *reply, const char *what,
                       struct backup_error *err)
{
    char ebuf[768];
    if (client_run_admin(s->client, cmd, reply, ebuf, sizeof ebuf) != 0) {
        snprintf(err->msg, sizeof err->msg, "%s failed on the temporary tallyd: %s (log: %s)", what, ebuf,
                 s->logpath);
        return -1;
    }
    return 0;
}

int tmp_server_stop(struct tmp_server *s, struct backup_error *err)
{
    (void)err;
    if (s->client != NULL) {
        mongoc_client_destroy(s->client);
        s->client = NULL;
    }
    if (s->pid <= 0)
        return 0;
    kill(s->pid, SIGTERM);
    int rc = 0;
    for (int waited = 0;; waited += 50) {
        int st;
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            rc = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
            break;
        }
        if (waited >= STOP_TIMEOUT_MS) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            rc = -1;
            break;
        }
        member_sleep_ms(50);
    }
    s->pid = 0;
    return rc;
}
