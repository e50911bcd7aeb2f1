/* sim_main.c - the tally-sim command line.
 *
 *   tally-sim --seed N [--members 3|5|7] [--steps K] [--trace]   replay one run exactly
 *   tally-sim --seeds A..B [--members M]                        many runs (3/5/7 rotate)
 *   tally-sim --regress                                         the fixed regression seeds
 *   tally-sim --determinism N                                   run seed N twice, compare trace hashes
 *   tally-sim --seeds A..B --expect-fail                        a mutant: passes when some seed fails
 *
 * SIM_SEED_BASE (any string, e.g. a commit hash) shifts every seed of a range
 * so CI explores new seeds on each commit; it is printed so a failure can be
 * replayed with the absolute seed shown. Summary lines follow the other
 * suites: "sim: N passed, N failed (vacuous V)". */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seeds that once exposed a problem, run on every `make sim` (set size
 * 3 + 2 * (seed % 3)); docs/testing.md "Simulator" says what each found. */
static const uint64_t REGRESSION_SEEDS[] = {
    3,    /* commit point learned from fetch metadata before the first-batch check (--meta-first) */
    14,   /* diverged member waits for the periodic no-op to pass its timestamps */
    82,   /* the same, 5 members */
    120,  /* catch-up target that only rose: leader-elect stuck after a member lost entries */
    392,  /* new-primary no-op written after losing the term (--stale-noops) */
    845,  /* sync-source cycle among secondaries, broken only by the 30 s lag rule */
    984,  /* updatePosition from a member in a newer term counted for the commit point */
    1072, /* the same, 5 members */
    1372, /* stale-term no-op + sync-source commit cap */
    1077, /* catch-up target on a diverged branch (newer term, older timestamp): leader-elect stuck */
    382802628243ull, /* leader-elect could not fetch from the secondary ahead of it that synced from it */
    839580436459ull, /* a late term-3 primary (delayed votes) need not hold term 4's writes: checker scope */
};

static uint64_t seed_base(void)
{
    const char *env = getenv("SIM_SEED_BASE");
    if (!env || !*env)
        return 0;
    uint64_t h = 0xCBF29CE484222325ull;
    for (const char *p = env; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001B3ull;
    }
    /* Keep seeds readable and far from the fixed ranges. */
    h = (h % 1000000000ull) * 1000ull;
    printf("sim: SIM_SEED_BASE=%s -> seeds offset by %" PRIu64 "\n", env, h);
    return h;
}

static void usage(void)
{
    fprintf(stderr, "usage: tally-sim (--seed N | --seeds A..B | --regress | --determinism N) [--members 3|5|7] "
                    "[--steps K] [--trace] [--expect-fail] [--verbose] [--meta-first] [--stale-noops] [--position-without-term]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct sim_opts o;
    memset(&o, 0, sizeof o);
    uint64_t first = 0, last = 0, det_seed = 0;
    bool has_range = false, is_regress = false, expect_fail = false, is_verbose = false, is_det = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0 && v) {
            first = last = strtoull(v, NULL, 10);
            has_range = true;
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v) {
            char *dots = strstr(v, "..");
            if (!dots)
                usage();
            first = strtoull(v, NULL, 10);
            last = strtoull(dots + 2, NULL, 10);
            has_range = true;
            i++;
        } else if (strcmp(a, "--members") == 0 && v) {
            o.members = atoi(v);
            if (o.members != 3 && o.members != 5 && o.members != 7)
                usage();
            i++;
        } else if (strcmp(a, "--steps") == 0 && v) {
            o.steps = strtoll(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--determinism") == 0 && v) {
            det_seed = strtoull(v, NULL, 10);
            is_det = true;
            i++;
        } else if (strcmp(a, "--position-without-term") == 0) {
            o.is_position_without_term = true;
        } else if (strcmp(a, "--stale-noops") == 0) {
            o.is_stale_noop = true;
        } else if (strcmp(a, "--meta-first") == 0) {
            o.is_meta_first = true;
        } else if (strcmp(a, "--trace") == 0) {
            o.trace = true;
        } else if (strcmp(a, "--regress") == 0) {
            is_regress = true;
        } else if (strcmp(a, "--expect-fail") == 0) {
            expect_fail = true;
        } else if (strcmp(a, "--verbose") == 0) {
            is_verbose = true;
        } else {
            usage();
        }
    }
    char why[600];
    uint64_t h1 = 0, h2 = 0;

    if (is_det) {
        struct sim_opts d = o;
        d.seed = det_seed;
        d.quiet = true;
        enum sim_result r1 = sim_run(&d, &h1, why, sizeof why);
        enum sim_result r2 = sim_run(&d, &h2, why, sizeof why);
        bool same = h1 == h2 && r1 == r2;
        printf("sim-determinism: seed %" PRIu64 " trace hashes %016" PRIx64 " %016" PRIx64 "\n", det_seed, h1, h2);
        printf("sim-determinism: %d passed, %d failed\n", same ? 1 : 0, same ? 0 : 1);
        return same ? 0 : 1;
    }
    if (!has_range && !is_regress)
        usage();

    uint64_t base = has_range && last > first ? seed_base() : 0;
    int64_t n_pass = 0, n_fail = 0, n_vac = 0;
    size_t n_reg = is_regress ? sizeof REGRESSION_SEEDS / sizeof REGRESSION_SEEDS[0] : 0;
    uint64_t count = is_regress ? n_reg : last - first + 1;
    for (uint64_t i = 0; i < count; i++) {
        struct sim_opts r = o;
        r.seed = is_regress ? REGRESSION_SEEDS[i] : base + first + i;
        if (!r.members && (is_regress || count > 1))
            r.members = 3 + 2 * (int)(r.seed % 3);
        r.quiet = expect_fail;
        enum sim_result res = sim_run(&r, &h1, why, sizeof why);
        if (res == SIM_FAIL) {
            n_fail++;
            if (expect_fail) {
                printf("mutant caught by seed %" PRIu64 " (members %d): %s\n", r.seed, r.members, why);
                break;
            }
        } else if (res == SIM_VACUOUS) {
            n_vac++;
        } else {
            n_pass++;
        }
        if (is_verbose || count == 1)
            printf("seed %" PRIu64 " members %d: %s (trace %016" PRIx64 ")\n", r.seed, r.members ? r.members : 0,
                   why, h1);
    }
    if (expect_fail) {
        bool caught = n_fail > 0;
        if (!caught)
            printf("mutant NOT caught by seeds %" PRIu64 "..%" PRIu64 "\n", base + first, base + last);
        return caught ? 0 : 1;
    }
    printf("sim: %" PRId64 " passed, %" PRId64 " failed (vacuous %" PRId64 ")\n", n_pass, n_fail, n_vac);
    return n_fail ? 1 : 0;
}
