/* mem.c - the one place where allocation failure is handled (by aborting).
 *
 * libbson declares bson_t with 128-byte alignment, and many of our structs
 * embed a bson_t, so their alignment is 128 too. malloc only guarantees 16.
 * Every block of 128 bytes or more is therefore allocated 128-byte aligned
 * (any struct embedding a bson_t is at least that large), and xrealloc keeps
 * that alignment by moving the block itself. */
#include "core/mem.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEM_BIG_ALIGN 128

static void *check(void *p, size_t n)
{
    if (p == NULL) {
        fprintf(stderr, "{\"s\":\"F\",\"c\":\"CONTROL\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
        abort();
    }
    return p;
}

static void *alloc_block(size_t n)
{
    void *p = NULL;

    if (n < MEM_BIG_ALIGN)
        return check(malloc(n ? n : 1), n);
    if (posix_memalign(&p, MEM_BIG_ALIGN, n) != 0)
        p = NULL;
    return check(p, n);
}

void *xmalloc(size_t n) { return alloc_block(n); }

void *xcalloc(size_t count, size_t n)
{
    void *p;

    if (n != 0 && count > SIZE_MAX / n)
        return check(NULL, SIZE_MAX);
    p = alloc_block(count * n);
    memset(p, 0, count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    size_t old_size;
    void *q;

    if (p == NULL)
        return alloc_block(n);
    if (n < MEM_BIG_ALIGN && ((uintptr_t)p % MEM_BIG_ALIGN) != 0)
        return check(realloc(p, n ? n : 1), n);
    /* Keep big blocks aligned: realloc would not. */
    old_size = malloc_usable_size(p);
    q = alloc_block(n);
    memcpy(q, p, old_size < n ? old_size : n);
    free(p);
    return q;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

char *xstrndup(const char *s, size_t n)
{
    char *d = alloc_block(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
