/* log.c - structured log writer and the in-memory ring that getLog reads.
 *
 * Lines are JSON objects like mongod's; messages are escaped so any text an
 * operator or client supplies stays inside one line. A small ring keeps the
 * last lines for the getLog command. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_RING_SIZE 256
#define LOG_LINE_MAX 2048

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static char *log_path;
static bool log_is_verbose;
static char *log_ring[LOG_RING_SIZE];
static unsigned log_ring_next;
static char *startup_warnings[32];
static unsigned n_startup_warnings;

static const char *const level_codes[] = {"D1", "I", "W", "E", "F"};
static const char *const component_names[] = {"CONTROL", "NETWORK", "COMMAND", "STORAGE", "QUERY", "REPL", "BACKUP"};

int log_open(const char *path)
{
    int fd;

    if (path == NULL)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    pthread_mutex_lock(&log_mutex);
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    free(log_path);
    log_path = strdup(path);
    pthread_mutex_unlock(&log_mutex);
    return 0;
}

void log_reopen(void)
{
    char *path;

    pthread_mutex_lock(&log_mutex);
    path = log_path ? strdup(log_path) : NULL;
    pthread_mutex_unlock(&log_mutex);
    if (path)
        log_open(path);
    free(path);
}

void log_set_verbose(bool is_verbose) { log_is_verbose = is_verbose; }

/* JSON-escape src into dst (always NUL-terminated). */
static void escape_json(char *dst, size_t cap, const char *src)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)*p;
        } else if (*p < 0x20) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", *p);
        } else {
            dst[o++] = (char)*p;
        }
    }
    dst[o] = '\0';
}

static void format_time(char *buf, size_t cap)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000) % 1000);
}

static void emit(enum log_level level, enum log_component comp, const char *msg, bool is_startup_warning)
{
    char escaped[LOG_LINE_MAX];
    char line[LOG_LINE_MAX + 128];
    char when[96];
    int n;

    escape_json(escaped, sizeof escaped, msg);
    format_time(when, sizeof when);
    n = snprintf(line, sizeof line, "{\"t\":{\"$date\":\"%s\"},\"s\":\"%s\",\"c\":\"%s\",\"msg\":\"%s\"}\n", when,
                 level_codes[level], component_names[comp], escaped);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    pthread_mutex_lock(&log_mutex);
    if (write(log_fd, line, (size_t)n) < 0) {
        /* Nowhere left to report a failing log; the line is dropped. */
    }
    line[n - 1] = '\0';
    free(log_ring[log_ring_next % LOG_RING_SIZE]);
    log_ring[log_ring_next++ % LOG_RING_SIZE] = strdup(line);
    if (is_startup_warning && n_startup_warnings < sizeof startup_warnings / sizeof startup_warnings[0])
        startup_warnings[n_startup_warnings++] = strdup(line);
    pthread_mutex_unlock(&log_mutex);
}

void log_write(enum log_level level, enum log_component comp, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    if (level == LOG_DEBUG && !log_is_verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, comp, msg, false);
}

void log_startup_warning(const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(LOG_WARNING, LOGC_CONTROL, msg, true);
}

int log_append_recent(bson_t *arr, bool startup_only)
{
    char key[16];
    int n = 0;

    pthread_mutex_lock(&log_mutex);
    if (startup_only) {
        for (unsigned i = 0; i < n_startup_warnings; i++) {
            snprintf(key, sizeof key, "%d", n++);
            bson_append_utf8(arr, key, -1, startup_warnings[i], -1);
        }
    } else {
        unsigned start = log_ring_next > LOG_RING_SIZE ? log_ring_next - LOG_RING_SIZE : 0;
        for (unsigned i = start; i < log_ring_next; i++) {
            snprintf(key, sizeof key, "%d", n++);
            bson_append_utf8(arr, key, -1, log_ring[i % LOG_RING_SIZE], -1);
        }
    }
    pthread_mutex_unlock(&log_mutex);
    return n;
}
