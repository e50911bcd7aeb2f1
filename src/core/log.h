/* log.h - structured JSON log lines, one per event, like mongod's.
 *
 * {"t":{"$date":"..."},"s":"I","c":"NETWORK","ctx":"conn12","msg":"..."}
 * Thread-safe: each line is written with a single write(2). */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

#include <bson/bson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_FATAL };
enum log_component { LOGC_CONTROL, LOGC_NETWORK, LOGC_COMMAND, LOGC_STORAGE, LOGC_QUERY, LOGC_REPL, LOGC_BACKUP };

/* Send lines to `path` (appending), or to stderr when path is NULL.
 * Returns 0, or -errno if the file cannot be opened. */
int log_open(const char *path);
void log_set_verbose(bool is_verbose);
/* Reopen the log file (SIGUSR1 / log rotation). */
void log_reopen(void);

void log_write(enum log_level level, enum log_component comp, const char *fmt, ...) BSON_GNUC_PRINTF(3, 4);

/* Startup warnings kept in memory for getLog("startupWarnings"). */
void log_startup_warning(const char *fmt, ...) BSON_GNUC_PRINTF(1, 2);
/* Appends every kept log line (as strings) to the array `arr`; returns the count. */
int log_append_recent(bson_t *arr, bool startup_only);

#define log_debug(c, ...) log_write(LOG_DEBUG, (c), __VA_ARGS__)
#define log_info(c, ...) log_write(LOG_INFO, (c), __VA_ARGS__)
#define log_warn(c, ...) log_write(LOG_WARNING, (c), __VA_ARGS__)
#define log_error(c, ...) log_write(LOG_ERROR, (c), __VA_ARGS__)

#endif
