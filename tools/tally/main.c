/* `tally`: the admin tool's entry point: argument parsing, help, dispatch.
 *
 * Subcommands: `cluster up`, `cluster down` (cluster.c) and `status`
 * (status.c). Options are parsed strictly: an unknown option, a missing or
 * malformed value, or an option that does not apply to the subcommand stops
 * the tool with a message naming it and exit code 2, before anything runs. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "tally.h"

static const char USAGE[] =
    "usage: tally <command> [options]\n"
    "\n"
    "commands:\n"
    "  cluster up      start a local replica set on 127.0.0.1, initiate it, wait for a\n"
    "                  primary and print its connection string\n"
    "  cluster down    stop the cluster's members (SIGTERM) and wait for them\n"
    "  status          one line per member: state, health, optime and lag, sync source,\n"
    "                  priority, votes, flags; exit code 0 only when a primary exists\n"
    "  backup full|diff|incr --uri URI --to DEST [--redis URL] [--host H:P | --from-primary]\n"
    "                  take a backup (full snapshot, or the oplog since the last full\n"
    "                  (diff) or the last backup (incr)); see docs/backups.md\n"
    "  backup verify --from DEST [--backup ID]\n"
    "                  restore into a scratch folder and check it against the manifest\n"
    "  restore --from DEST --dbpath DIR [--until TIME|SECS:INC] [--backup ID]\n"
    "                  rebuild a data directory from the backups up to a point in time\n"
    "  resync --host HOST:PORT [--no-wait] [--timeout SECS]\n"
    "                  make a (too stale) member copy a fresh snapshot of its sync source\n"
    "                  and wait until it is SECONDARY again\n"
    "  help            this text\n"
    "\n"
    "options:\n"
    "  --dir DIR           cluster folder (data, logs, pid files); default ./.tally/cluster\n"
    "  --base-port P       first member's port; members use P, P+1, ...; default 27017\n"
    "  --members N         data-bearing members, 1..7; default 3                     (up)\n"
    "  --arbiter           add an arbiter after the data members                     (up)\n"
    "  --fast              heartbeats every 200 ms, election timeout 1000 ms        (up)\n"
    "  --set-name NAME     replica set name; default rs0                             (up)\n"
    "  --tallyd PATH       server binary; default: $TALLYD, else next to tally, else PATH (up)\n"
    "  --timeout SECS      how long to wait for a primary; default 60               (up)\n"
    "  --host HOST:PORT    ask this member instead of the cluster folder's       (status)\n"
    "  --port P            same as --host 127.0.0.1:P                            (status)\n"
    "  --json              print replSetGetStatus and replSetGetConfig as JSON    (status)\n"
    "\n"
    "If a member exits or no primary appears while `cluster up` runs, the tool prints\n"
    "the members' log tails, stops the members it started and exits with code 1.\n";

enum cmd_kind { CMD_UP, CMD_DOWN, CMD_STATUS };

/* Which subcommands accept an option: a bit per enum cmd_kind. */
#define FOR_UP (1u << CMD_UP)
#define FOR_DOWN (1u << CMD_DOWN)
#define FOR_STATUS (1u << CMD_STATUS)

int tally_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tally: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun `tally help` for usage\n");
    va_end(ap);
    return 2;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = (int)v;
    return true;
}

/* Splits "--name=value" so both spellings work; returns the value or NULL. */
static const char *inline_value(const char *arg, char *name, size_t name_len)
{
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n >= name_len) {
        n = name_len - 1;
    }
    memcpy(name, arg, n);
    name[n] = '\0';
    return eq ? eq + 1 : NULL;
}

static int parse_options(int argc, char **argv, int first, enum cmd_kind kind, struct tally_opts *o)
{
    static char host_buf[80];
    unsigned me = 1u << kind;
    for (int i = first; i < argc; i++) {
        char name[64];
        const char *val = inline_value(argv[i], name, sizeof name);
        bool takes_value = true;
        unsigned allowed;
        if (strcmp(name, "--dir") == 0) {
            allowed = FOR_UP | FOR_DOWN | FOR_STATUS;
        } else if (strcmp(name, "--base-port") == 0) {
            allowed = FOR_UP | FOR_STATUS;
        } else if (strcmp(name, "--members") == 0 || strcmp(name, "--set-name") == 0 ||
                   strcmp(name, "--tallyd") == 0 || strcmp(name, "--timeout") == 0) {
            allowed = FOR_UP;
        } else if (strcmp(name, "--arbiter") == 0 || strcmp(name, "--fast") == 0) {
            allowed = FOR_UP;
            takes_value = false;
        } else if (strcmp(name, "--host") == 0 || strcmp(name, "--port") == 0) {
            allowed = FOR_STATUS;
        } else if (strcmp(name, "--json") == 0) {
            allowed = FOR_STATUS;
            takes_value = false;
        } else {
            return tally_usage_error("unknown option %s", argv[i]);
        }
        if (!(allowed & me)) {
            return tally_usage_error("option %s does not apply to this command", name);
        }
        if (!takes_value) {
            if (val != NULL) {
                return tally_usage_error("option %s takes no value", name);
            }
            if (strcmp(name, "--arbiter") == 0) {
                o->is_arbiter = true;
            } else if (strcmp(name, "--fast") == 0) {
                o->is_fast = true;
            } else {
                o->is_json = true;
            }
            continue;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                return tally_usage_error("option %s needs a value", name);
            }
            val = argv[++i];
        }
        if (strcmp(name, "--dir") == 0) {
            if (*val == '\0') {
                return tally_usage_error("option %s needs a non-empty folder", name);
            }
            o->dir = val;
        } else if (strcmp(name, "--base-port") == 0) {
            if (!parse_int(val, 1, 65535, &o->base_port)) {
                return tally_usage_error("--base-port must be a port number 1..65535, not '%s'", val);
            }
        } else if (strcmp(name, "--members") == 0) {
            if (!parse_int(val, 1, TALLY_MAX_MEMBERS, &o->n_members)) {
                return tally_usage_error("--members must be 1..7, not '%s'", val);
            }
        } else if (strcmp(name, "--set-name") == 0) {
            /* A set name becomes part of URIs and file contents: keep it plain. */
            if (*val == '\0' || strlen(val) > 64 || strspn(val, "abcdefghijklmnopqrstuvwxyz"
                                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(val)) {
                return tally_usage_error("--set-name must be 1..64 letters, digits, '_' or '-', not '%s'", val);
            }
            o->set_name = val;
        } else if (strcmp(name, "--tallyd") == 0) {
            o->tallyd = val;
        } else if (strcmp(name, "--timeout") == 0) {
            if (!parse_int(val, 1, 3600, &o->timeout_s)) {
                return tally_usage_error("--timeout must be 1..3600 seconds, not '%s'", val);
            }
        } else if (strcmp(name, "--host") == 0) {
            if (*val == '\0' || strlen(val) >= 64 || strchr(val, '/') != NULL || strchr(val, '?') != NULL) {
                return tally_usage_error("--host wants HOST:PORT, not '%s'", val);
            }
            o->host = val;
        } else {
            int port;
            if (!parse_int(val, 1, 65535, &port)) {
                return tally_usage_error("--port must be a port number 1..65535, not '%s'", val);
            }
            snprintf(host_buf, sizeof host_buf, "127.0.0.1:%d", port);
            o->host = host_buf;
        }
    }
    if (kind == CMD_UP && o->is_arbiter && o->n_members + 1 > TALLY_MAX_VOTERS) {
        return tally_usage_error("%s", "--arbiter with 7 members would make 8 voters; a replica set allows at most 7");
    }
    if (kind == CMD_UP && o->base_port + o->n_members + (o->is_arbiter ? 1 : 0) - 1 > 65535) {
        return tally_usage_error("%s", "--base-port is too high for that many members");
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct tally_opts o = {
        .dir = "./.tally/cluster",
        .base_port = 27017,
        .n_members = 3,
        .set_name = "rs0",
        .timeout_s = 60,
    };
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* Backups and restores parse their own options (backup_cli.c). */
    if (strcmp(argv[1], "backup") == 0) {
        return backup_cli(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "restore") == 0) {
        return restore_cli(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "resync") == 0) {
        return resync_cli(argc - 2, argv + 2);
    }
    enum cmd_kind kind;
    int first;
    if (strcmp(argv[1], "cluster") == 0) {
        if (argc < 3) {
            return tally_usage_error("%s", "`cluster` needs `up` or `down`");
        }
        if (strcmp(argv[2], "up") == 0) {
            kind = CMD_UP;
        } else if (strcmp(argv[2], "down") == 0) {
            kind = CMD_DOWN;
        } else {
            return tally_usage_error("unknown cluster command '%s' (want up or down)", argv[2]);
        }
        first = 3;
    } else if (strcmp(argv[1], "status") == 0) {
        kind = CMD_STATUS;
        first = 2;
    } else {
        return tally_usage_error("unknown command '%s'", argv[1]);
    }
    int rc = parse_options(argc, argv, first, kind, &o);
    if (rc != 0) {
        return rc;
    }
    mongoc_init();
    client_quiet_logs();
    switch (kind) {
    case CMD_UP:
        rc = tally_cluster_up(&o);
        break;
    case CMD_DOWN:
        rc = tally_cluster_down(&o);
        break;
    default:
        rc = tally_status(&o);
        break;
    }
    mongoc_cleanup();
    return rc;
}
