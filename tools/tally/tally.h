/* The `tally` admin tool: what its files share.
 *
 * main.c parses the command line into struct tally_opts and dispatches;
 * cluster.c starts and stops a local replica set (tally_cluster_up/down);
 * status.c prints a set's members (tally_status); client.c wraps the few
 * libmongoc calls the others need. Every entry point returns the process
 * exit code: 0 success, 1 failure, 2 bad usage. */
#ifndef TALLY_TOOL_H
#define TALLY_TOOL_H

#include <stdbool.h>
#include <stddef.h>

#include <mongoc/mongoc.h>

enum {
    TALLY_MAX_MEMBERS = 7,       /* data-bearing members a cluster may have */
    TALLY_MAX_VOTERS = 7,        /* replica-set limit on voting members */
    TALLY_MAX_HOSTS = 8,         /* members plus the optional arbiter */
};

struct tally_opts {
    const char *dir;            /* cluster folder; default ./.tally/cluster */
    int base_port;              /* first member's port; default 27017 */
    int n_members;              /* data-bearing members, 1..7; default 3 */
    bool is_arbiter;            /* add one arbiter after the data members */
    bool is_fast;               /* heartbeats 200 ms, election timeout 1000 ms */
    const char *set_name;       /* default rs0 */
    const char *tallyd;         /* server binary; NULL: next to tally, else $TALLYD, else PATH */
    int timeout_s;              /* up: seconds to wait for a primary */
    const char *host;           /* status: one "host:port" to ask; NULL: the dir's members */
    bool is_json;               /* status: print the raw documents */
};

/* main.c */

/* Prints "tally: <message>" and a pointer to `tally help` on stderr; returns
 * 2, the exit code for bad usage. */
__attribute__((format(printf, 1, 2))) int tally_usage_error(const char *fmt, ...);

/* client.c */

/* A client on a direct connection to host_port ("127.0.0.1:27017") with
 * timeouts of timeout_ms; returned owned (mongoc_client_destroy). NULL only
 * when the URI cannot be built, with a message in errbuf. */
mongoc_client_t *client_open_direct(const char *host_port, int timeout_ms, char *errbuf, size_t errlen);

/* Runs cmd (borrowed) on the admin database. reply is always initialised
 * (caller destroys). Returns 0 on ok: 1, else the server's error code when it
 * sent one, else -1 (no server reachable); errbuf gets "message (code N)". */
int client_run_admin(mongoc_client_t *client, const bson_t *cmd, bson_t *reply, char *errbuf, size_t errlen);

/* True when host_port answers hello with isWritablePrimary: true. */
bool client_is_writable_primary(const char *host_port, int timeout_ms);

/* Silences libmongoc's own warnings (the tool reports errors itself). */
void client_quiet_logs(void);

/* cluster.c */
int tally_cluster_up(const struct tally_opts *opts);
int tally_cluster_down(const struct tally_opts *opts);
/* The server binary: given, else $TALLYD, else tallyd next to this tool, else
 * PATH; an absolute path in out, or false with the reason in out. */
bool tally_find_tallyd(const char *given, char *out, size_t out_len);
/* mkdir -p with mode 0755: 0, or -1 with errno set (ENAMETOOLONG when path
 * does not fit PATH_MAX). */
int tally_mkdir_p(const char *path);

/* The member list a cluster folder recorded at `up` ("127.0.0.1:P" each);
 * returns the count (0 when the folder holds no cluster). */
int tally_cluster_hosts(const char *dir, char hosts[][64], int max_hosts);

/* status.c */
int tally_status(const struct tally_opts *opts);

/* resync.c: `tally resync` (parses its own options) */
int resync_cli(int argc, char **argv);

#endif
