/* newly_added.c - which members carry MongoDB's newlyAdded flag, and when
 * the primary may clear it (replication digest 5.2, 6.3).
 *
 * Beside the protocol core, like reconfig.c: node_cmd.c applies these rules
 * to a replSetReconfig before it waits for commitment, and asks after every
 * step whether an automatic reconfig may clear a flag. The flag's effect on
 * votes and priority lives in config.c, so every majority the core counts
 * already leaves flagged members out. */
#include "repl/newly_added.h"

/* Only members that would vote get the flag (arbiters never do). */
static bool is_data_voter(const struct repl_member *m)
{
    return !m->is_arbiter && (m->votes == 1 || m->is_newly_added);
}

void repl_newly_added_carry(const struct repl_config *old_cfg, struct repl_config *new_cfg)
{
    for (int i = 0; i < new_cfg->n_members; i++) {
        int j = repl_config_find_id(old_cfg, new_cfg->members[i].id);
        if (j >= 0 && old_cfg->members[j].is_newly_added && is_data_voter(&new_cfg->members[i]))
            repl_config_set_newly_added(new_cfg, i, true);
    }
}

int repl_newly_added_mark(const struct repl_config *old_cfg, struct repl_config *new_cfg)
{
    int n = 0;
    for (int i = 0; i < new_cfg->n_members; i++) {
        struct repl_member *m = &new_cfg->members[i];
        if (m->is_newly_added || !is_data_voter(m) || repl_config_find_id(old_cfg, m->id) >= 0)
            continue;
        repl_config_set_newly_added(new_cfg, i, true);
        n++;
    }
    return n;
}

int repl_newly_added_ready(const struct repl_state *st)
{
    if (!st->has_config)
        return -1;
    for (int i = 0; i < st->config.n_members; i++) {
        if (!st->config.members[i].is_newly_added)
            continue;
        bool is_self = i == st->self;
        if (!is_self && !st->peers[i].is_up)
            continue;
        enum repl_member_state s = is_self ? st->member_state : st->peers[i].state;
        /* Digest 5.2: it has data once it left STARTUP2 for one of these. */
        if (s == REPL_SECONDARY || s == REPL_RECOVERING || s == REPL_ROLLBACK)
            return i;
    }
    return -1;
}
