/* testhelp.h - the unit-test runner: a test is a function, a file is a list.
 *
 * TEST(name_as_a_sentence) { CHECK(cond); CHECK_EQ_INT(a, b); ... }
 * int main(void) { RUN(name); ...; return test_report(); }
 * Each test gets a fresh temporary directory in test_dir. The run ends with
 * "N passed, N failed" and a non-zero exit when anything failed. */
#ifndef TALLY_TESTHELP_H
#define TALLY_TESTHELP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_n_passed, test_n_failed, test_current_failed;
static char test_dir[256];

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                                     \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                  \
            test_current_failed = 1;                                                                    \
        }                                                                                               \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                              \
    do {                                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                 \
        if (check_a_ != check_b_) {                                                                     \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,     \
                    check_a_, check_b_);                                                                \
            test_current_failed = 1;                                                                    \
        }                                                                                               \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                              \
    do {                                                                                                \
        const char *check_a_ = (a), *check_b_ = (b);                                                    \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {                  \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, \
                    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");                    \
            test_current_failed = 1;                                                                    \
        }                                                                                               \
    } while (0)

static inline void test_make_dir(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/tally-unit-XXXXXX");
    if (mkdtemp(test_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void test_remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", test_dir);
}

#define RUN(name)                                                                                       \
    do {                                                                                                \
        test_current_failed = 0;                                                                        \
        test_make_dir();                                                                                \
        name();                                                                                         \
        test_remove_dir();                                                                              \
        if (test_current_failed) {                                                                      \
            test_n_failed++;                                                                            \
            fprintf(stderr, "FAIL %s\n", #name);                                                        \
        } else {                                                                                        \
            test_n_passed++;                                                                            \
        }                                                                                               \
    } while (0)

static inline int test_report(void)
{
    printf("%d passed, %d failed\n", test_n_passed, test_n_failed);
    return test_n_failed ? 1 : 0;
}

#endif
