/* Backups and restores of a Tally replica set: what the tool's files share.
 *
 * backup.c takes one backup (full: a snapshot of a member's LMDB file; incr
 * and diff: a slice of the oplog) into DEST/<id>/ through DEST/.partial-<id>/;
 * backup_manifest.c reads and writes manifest.json and picks restore chains;
 * backup_file.c writes and reads the compressed, checksummed files;
 * restore.c rebuilds a data directory from a chain; backup_verify.c restores
 * into a scratch folder and compares; backup_cli.c parses the command line.
 * Formats and rules: docs/backups.md. Every entry point returns 0 or -1 with
 * a message in struct backup_error that says what is wrong and what to do. */
#ifndef TALLY_BACKUP_H
#define TALLY_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#define BACKUP_FORMAT "tally-backup-1"
#define BACKUP_TOOL_VERSION "tally 0.1"
#define BACKUP_ID_MAX 64

enum backup_type { BACKUP_FULL, BACKUP_DIFF, BACKUP_INCR };

struct backup_error {
    char msg[1024];
};

struct backup_options {
    enum backup_type type;
    const char *uri;        /* mongodb://... naming one or more members */
    const char *dest;       /* backup folder (created when missing) */
    const char *redis_url;  /* nullable: passed on to the catalog */
    const char *host;       /* nullable: back up from exactly this member */
    bool from_primary;      /* read from the primary instead of a secondary */
    int chunk_bytes;        /* snapshot chunk size; 0: 4 MiB */
    int timeout_s;          /* connect / wait deadlines; 0: 30 */
};

struct backup_result {
    char id[BACKUP_ID_MAX];
    char dir[4096];         /* DEST/<id> once complete */
    int64_t bytes_raw;
    int64_t bytes_stored;
    int64_t entries;        /* oplog entries (slices) */
    char source[128];       /* host:port it read from */
};

/* Takes one backup. On success and on failure it records a catalog event
 * (catalog_record_event) whose outcome says which. */
int backup_run(const struct backup_options *opts, struct backup_result *res, struct backup_error *err);

struct restore_options {
    const char *from;       /* backup folder */
    const char *dbpath;     /* target data directory: missing or empty */
    const char *until;      /* nullable: ISO-8601 UTC time or "secs:inc" optime */
    const char *backup_id;  /* nullable: restore to the end of exactly this backup */
    const char *tallyd;     /* nullable: server binary ($TALLYD, next to tally, PATH) */
    bool is_quiet;          /* no progress lines */
};

struct restore_result {
    uint64_t end_ts;        /* optime (ts) the restored data reflects */
    int64_t end_term;
    int64_t entries_applied;
    char full_id[BACKUP_ID_MAX];
    int n_chain;            /* backups used, the full included */
};

int restore_run(const struct restore_options *opts, struct restore_result *res, struct backup_error *err);

/* Restores into a scratch folder and checks per-collection counts and hashes
 * against the full backup's manifest (and, for a slice, that every entry was
 * applied). */
int backup_verify(const char *from, const char *backup_id, const char *tallyd, struct backup_error *err);

/* `tally backup ...` and `tally restore ...`: the process exit code. */
int backup_cli(int argc, char **argv);
int restore_cli(int argc, char **argv);

#endif
