/* reconfig.c - when a safe replSetReconfig may install its config, and the
 * version a forced one gets (replication digest 6.3, 6.4).
 *
 * Sits beside the protocol core: node_cmd.c asks it each time the core's
 * state moves while a reconfig waits. Pure functions of the core's state;
 * the heartbeats keep each peer's config (version, term) current, which is
 * what "installed on a member" means here. */
#include "repl/reconfig.h"

#include <stdio.h>

/* Peers marked down keep their last seen config version: only members we
 * hear from count, so a config is never called committed on stale news. */
static int installed_voters(const struct repl_state *st, int *n_voters)
{
    const struct repl_config *cfg = &st->config;
    int have = 0;

    *n_voters = 0;
    for (int i = 0; i < cfg->n_members; i++) {
        const struct repl_peer *p = &st->peers[i];
        if (cfg->members[i].votes <= 0 || cfg->members[i].is_newly_added)
            continue;
        (*n_voters)++;
        if (i == st->self ||
            (p->is_up && p->config_version == cfg->version && p->config_term == cfg->term))
            have++;
    }
    return have;
}

bool repl_reconfig_is_committed(const struct repl_state *st, char *why, size_t cap)
{
    int n_voters;
    int have = installed_voters(st, &n_voters);
    int need = repl_config_majority_vote_count(&st->config);

    /* Digest 6.3 step 1, config replication: on a majority of C's voters. */
    if (have < need) {
        if (why)
            snprintf(why, cap,
                     "the current config {version: %d, term: %lld} is not yet committed: it is installed on %d of "
                     "%d voting members and a majority (%d) must have it",
                     st->config.version, (long long)st->config.term, have, n_voters, need);
        return false;
    }
    /* Digest 6.3 step 2, oplog commitment: this primary's first entry of its
     * term is majority committed, so every earlier committed entry is too. */
    if (!optime_is_null(st->first_optime_of_term) && optime_compare(st->commit_point, st->first_optime_of_term) < 0) {
        if (why)
            snprintf(why, cap,
                     "the current config {version: %d, term: %lld} is not yet committed: the first oplog entry of "
                     "this primary's term is not majority-committed yet",
                     st->config.version, (long long)st->config.term);
        return false;
    }
    return true;
}

int repl_reconfig_force_version(int current, int requested, uint32_t random)
{
    int64_t base = requested > current ? requested : current;
    int64_t v = base + REPL_FORCE_VERSION_MIN_BUMP + (int64_t)(random % REPL_FORCE_VERSION_SPAN);

    return v > INT32_MAX ? INT32_MAX : (int)v;
}
