/* mem.h - allocation that never returns NULL.
 *
 * Allocation failure is not recoverable for a database server: these wrappers
 * log and abort in one place so call sites stay free of NULL checks. */
#ifndef TALLY_MEM_H
#define TALLY_MEM_H

#include <stddef.h>

/* Each returns owned memory (free with free()); aborts on exhaustion. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
