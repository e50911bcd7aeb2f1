/* The spool: backup events waiting on local disk while Redis is not
 * configured or not reachable (default folder DEST/.tally-spool).
 *
 * One file per event, named "<epoch ms>-<pid>-<seq>-<id>-<kind>.json" so
 * names sort by time. A file appears only complete: it is written as
 * ".tmp-<name>", fsync'd, renamed, and the folder fsync'd, so a crash leaves
 * either nothing or the whole event (a stray .tmp- file is ignored). The
 * consolidator removes a file only after the event's majority write. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "catalog_impl.h"
#include "tally.h"

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int catalog_spool_write(const char *dir, const struct catalog_key *key, const char *json, size_t len,
                        char *errbuf, size_t errlen)
{
    static unsigned seq;
    if (tally_mkdir_p(dir) != 0) {
        snprintf(errbuf, errlen, "cannot create the spool folder %s: %s", dir, strerror(errno));
        return -1;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%013lld-%d-%u-%s-%s.json",
             (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (int)getpid(), seq++, key->id, key->kind);
    char tmp[PATH_MAX], final[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name) >= (int)sizeof tmp ||
        snprintf(final, sizeof final, "%s/%s", dir, name) >= (int)sizeof final) {
        snprintf(errbuf, errlen, "spool folder path too long: %s", dir);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, json, len) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, final) != 0) {
        snprintf(errbuf, errlen, "cannot rename %s into place: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (sync_dir(dir) != 0) {
        snprintf(errbuf, errlen, "cannot sync the spool folder %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole small file; returned owned (free), or NULL. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = bson_malloc(cap);
    for (;;) {
        if (n == cap) {
            /* An event is a few kilobytes; a huge file is not ours. */
            if (cap >= 16u << 20) {
                bson_free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            buf = bson_realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    bool is_error = ferror(f);
    fclose(f);
    if (is_error) {
        bson_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

int catalog_spool_list(const char *dir, struct catalog_staged *out, int max_n, char *errbuf, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(errbuf, errlen, "cannot list the spool folder %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 64, n_names = 0;
    char **names = bson_malloc(cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }
        if (n_names == cap) {
            cap *= 2;
            names = bson_realloc(names, cap * sizeof *names);
        }
        names[n_names++] = bson_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n_names, sizeof *names, compare_names);
    int n = 0;
    for (size_t i = 0; i < n_names; i++) {
        if (n < max_n) {
            struct catalog_staged *s = &out[n];
            snprintf(s->handle, sizeof s->handle, "%s/%s", dir, names[i]);
            size_t len = 0;
            char *json = read_file(s->handle, &len);
            if (json == NULL) {
                /* Removed meanwhile by a concurrent consolidator: skip it. */
                if (errno != ENOENT) {
                    fprintf(stderr, "tally: cannot read spooled event %s: %s; left in place\n", s->handle,
                            strerror(errno));
                }
            } else {
                char perr[256];
                s->event = catalog_event_from_json(json, len, perr, sizeof perr);
                if (s->event == NULL) {
                    fprintf(stderr, "tally: spooled file %s is not a backup event (%s); left in place\n",
                            s->handle, perr);
                }
                bson_free(json);
                n++;
            }
        }
        bson_free(names[i]);
    }
    bson_free(names);
    return n;
}

int catalog_spool_remove(const char *path, char *errbuf, size_t errlen)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(errbuf, errlen, "cannot remove spooled event %s: %s", path, strerror(errno));
        return -1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        sync_dir(dir[0] ? dir : "/");
    }
    return 0;
}
