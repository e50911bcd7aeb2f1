/* One local tallyd process of a cluster folder: where its files are, how to
 * start it as a daemon, how to tell it is (still) running, how to stop it.
 * Used by cluster.c (and by backup_server.c for member_exec_child and
 * member_sleep_ms); implemented in member.c. */
#ifndef TALLY_MEMBER_H
#define TALLY_MEMBER_H

#include <stdbool.h>
#include <sys/types.h>

struct member {
    char name[16];          /* "m1".."m8": folder and pid-file name */
    char host[64];          /* "127.0.0.1:PORT" */
    int port;
    bool is_arbiter;
    char dbpath[4096];      /* DIR/mN (absolute) */
    char logpath[4200];     /* DIR/mN/tallyd.log */
    char outpath[4200];     /* DIR/mN/stderr.log: the process's stdout and stderr */
    char pidpath[4200];     /* DIR/mN.pid */
    pid_t pid;              /* 0 when not started */
    bool is_child;          /* started by this process, so waitpid works */
    long log_offset;        /* log size before this start: older runs' lines are ignored */
    long out_offset;        /* same for outpath */
};

/* Fills the paths of member name in the absolute folder dir. */
void member_init(struct member *m, const char *dir, const char *name, int port, bool is_arbiter);

/* Starts tallyd (absolute path) for m in its own session with stdin from
 * /dev/null and output to m->outpath, then writes m->pidpath. Returns 0, or
 * -1 with a message in errbuf. */
int member_spawn(struct member *m, const char *tallyd, const char *set_name, char *errbuf, size_t errlen);

/* In a child just forked (the caller has set its session or group and its
 * cwd): stdin from /dev/null, stdout and stderr to outpath (opened write-only,
 * created, with out_flags such as O_APPEND or O_TRUNC), the default signal
 * mask and SIGPIPE action, then execv(argv). Only async-signal-safe calls, as
 * the parent may be multi-threaded (libmongoc). Never returns: exit code 126
 * when the redirection fails, 127 when the exec does. */
_Noreturn void member_exec_child(char *const argv[], const char *outpath, int out_flags);

/* True when the log has said "Waiting for connections" since the spawn. */
bool member_is_ready(const struct member *m);

/* For a child of ours: true when it has exited; *status gets a phrase such as
 * "exited with code 2" or "was killed by signal 9". */
bool member_has_exited(struct member *m, char *status, size_t status_len);

/* Reads the pid file; true and m->pid set when it names a live tallyd serving
 * m->dbpath (a stale file or a recycled pid is not "running"). */
bool member_read_running(struct member *m);

/* True while pid is alive (zombies count as gone). */
bool member_pid_alive(pid_t pid);

/* SIGTERM (unless is_signalled: the caller sent it already; a second one
 * could land after the server restored the default action and kill it
 * mid-shutdown), then wait up to timeout_ms (SIGKILL after that). Removes
 * the pid file. Returns 0 when it stopped on SIGTERM, 1 when it was killed. */
int member_stop(struct member *m, int timeout_ms, bool is_signalled);

/* Prints the last n_lines of the member's log and output files to stderr. */
void member_print_tail(const struct member *m, int n_lines);

/* Sleeps ms milliseconds. */
void member_sleep_ms(int ms);

#endif
