/* sim_check.c - the invariants the simulator checks after every step
 * (replication digest 9.1 and 11.1 layer 2):
 *
 *   ElectionSafety     at most one member becomes PRIMARY in a term, ever.
 *   TermMonotonic      a member's term never decreases while it runs; across a
 *                      crash it restarts from its persisted term (the core
 *                      adopts a term in memory before PERSIST_VOTE makes it
 *                      durable, node.c restores local.replset.election), which
 *                      is never below the term of its persisted vote.
 *   CommitMonotonic    a member's commit point never decreases while it runs;
 *                      across a crash it restarts from the lazily persisted one
 *                      (node.c), dropped when past the surviving oplog.
 *   OplogOrder         within a log, ts strictly increases and terms never decrease.
 *   LogMatching        an optime that appears anywhere, ever, ends the same
 *                      prefix (checked on every append against the first time
 *                      that optime appeared).
 *   NeverRollbackBeforeCommitPoint  no rollback removes an entry at or before
 *                      the member's commit point.
 *   NeverRollbackCommitted  no rollback removes an acknowledged w:"majority" write.
 *   LeaderCompleteness every acknowledged write of an earlier term is in the log
 *                      of each member when it becomes primary (Raft's property: a
 *                      primary elected late in an older term, its vote replies
 *                      delayed, need not hold a newer term's writes), and every
 *                      acknowledged write is in every log at the end.
 *   Convergence        after the faults stop: one writable primary, the others
 *                      SECONDARY, identical durable logs, commit points at the
 *                      newest entry, within a bound of virtual time. */
#include "sim.h"

#include "core/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->has_failed)
        return;
    s->has_failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail_msg, sizeof s->fail_msg, fmt, ap);
    va_end(ap);
}

static const char *ot_str(char *buf, size_t cap, struct optime o)
{
    snprintf(buf, cap, "{ts: %u|%u, t: %lld}", optime_secs(o), optime_inc(o), (long long)o.term);
    return buf;
}

void sim_check_after_step(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    char a[64], b[64];
    if (m->st.term < m->seen_term)
        sim_fail(s, "TermMonotonic: member %d term went from %lld to %lld", k, (long long)m->seen_term,
                 (long long)m->st.term);
    if (optime_compare(m->st.commit_point, m->seen_commit) < 0)
        sim_fail(s, "CommitMonotonic: member %d commit point went from %s to %s", k,
                 ot_str(a, sizeof a, m->seen_commit), ot_str(b, sizeof b, m->st.commit_point));
    m->seen_term = m->st.term;
    m->seen_commit = m->st.commit_point;
}

static uint64_t ot_hash(struct optime o)
{
    uint64_t h = o.ts * 0x9E3779B97F4A7C15ull ^ (uint64_t)o.term * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 29);
}

static struct sim_seen *seen_slot(struct sim *s, struct optime o)
{
    uint64_t mask = (uint64_t)s->seen_cap - 1;
    for (uint64_t i = ot_hash(o) & mask;; i = (i + 1) & mask) {
        struct sim_seen *e = &s->seen[i];
        if (!e->is_used || optime_compare(e->ot, o) == 0)
            return e;
    }
}

static void seen_grow(struct sim *s)
{
    struct sim_seen *old = s->seen;
    int64_t old_cap = s->seen_cap;
    s->seen_cap = old_cap ? old_cap * 2 : 1024;
    s->seen = xcalloc((size_t)s->seen_cap, sizeof *s->seen);
    for (int64_t i = 0; i < old_cap; i++)
        if (old[i].is_used)
            *seen_slot(s, old[i].ot) = old[i];
    free(old);
}

void sim_check_append(struct sim *s, int k, const struct sim_op *op, const struct sim_op *prev)
{
    char a[64], b[64];
    if (prev && (op->ot.ts <= prev->ot.ts || op->ot.term < prev->ot.term))
        sim_fail(s, "OplogOrder: member %d appended %s after %s", k, ot_str(a, sizeof a, op->ot),
                 ot_str(b, sizeof b, prev->ot));
    if (s->seen_n * 2 >= s->seen_cap)
        seen_grow(s);
    struct sim_seen *e = seen_slot(s, op->ot);
    if (!e->is_used) {
        e->is_used = true;
        e->ot = op->ot;
        e->prefix_hash = op->prefix_hash;
        e->write_id = op->write_id;
        s->seen_n++;
        return;
    }
    if (e->prefix_hash != op->prefix_hash)
        sim_fail(s, "LogMatching: member %d holds %s after a history that differs from where it first appeared", k,
                 ot_str(a, sizeof a, op->ot));
}

static int64_t write_of(struct sim *s, struct optime o)
{
    struct sim_seen *e = seen_slot(s, o);
    return e->is_used ? e->write_id : -1;
}

void sim_check_truncate(struct sim *s, int k, int new_n)
{
    struct sim_member *m = &s->m[k];
    char a[64], b[64];
    for (int i = new_n; i < m->log.n; i++) {
        struct optime o = m->log.v[i].ot;
        if (optime_compare(o, m->st.commit_point) <= 0) {
            sim_fail(s, "NeverRollbackBeforeCommitPoint: member %d rolls back %s at or before its commit point %s", k,
                     ot_str(a, sizeof a, o), ot_str(b, sizeof b, m->st.commit_point));
            return;
        }
        int64_t w = write_of(s, o);
        if (w >= 0 && s->writes[w].is_acked) {
            sim_fail(s, "NeverRollbackCommitted: member %d rolls back the acknowledged write %lld at %s", k,
                     (long long)w, ot_str(a, sizeof a, o));
            return;
        }
    }
}

/* Acknowledged writes of terms below before_term must be in member k's log. */
static void check_has_acked(struct sim *s, int k, int64_t before_term, const char *when)
{
    char a[64];
    for (int64_t i = 0; i < s->n_writes; i++) {
        if (!s->writes[i].is_acked || s->writes[i].ot.term >= before_term || sim_log_find(&s->m[k].log, s->writes[i].ot))
            continue;
        sim_fail(s, "LeaderCompleteness: acknowledged write %lld at %s is missing from member %d's log %s",
                 (long long)i, ot_str(a, sizeof a, s->writes[i].ot), k, when);
        return;
    }
}

void sim_check_new_primary(struct sim *s, int k, int64_t term)
{
    if (term < 0) {
        sim_fail(s, "member %d became primary with term %lld", k, (long long)term);
        return;
    }
    if (term >= s->cap_terms) {
        int64_t cap = s->cap_terms ? s->cap_terms : 64;
        while (cap <= term)
            cap *= 2;
        s->primary_of_term = xrealloc(s->primary_of_term, (size_t)cap * sizeof *s->primary_of_term);
        memset(s->primary_of_term + s->cap_terms, 0, (size_t)(cap - s->cap_terms) * sizeof *s->primary_of_term);
        s->cap_terms = cap;
    }
    int64_t prev = s->primary_of_term[term];
    if (prev && prev != k + 1)
        sim_fail(s, "ElectionSafety: members %lld and %d both became primary in term %lld", (long long)prev - 1, k,
                 (long long)term);
    if (!prev)
        s->n_primary_terms++;
    s->primary_of_term[term] = k + 1;
    s->last_primary = k;
    s->m[k].is_ever_primary = true;
    check_has_acked(s, k, term, "when it became primary");
}

void sim_check_restart(struct sim *s, int k)
{
    struct sim_member *m = &s->m[k];
    if (m->st.term < m->p_vote_term)
        sim_fail(s, "TermMonotonic: member %d restarted in term %lld below its persisted vote's term %lld", k,
                 (long long)m->st.term, (long long)m->p_vote_term);
    m->seen_term = m->st.term;
    m->seen_commit = m->st.commit_point;
}

bool sim_is_converged(struct sim *s)
{
    int primary = -1;
    for (int k = 0; k < s->n; k++) {
        const struct sim_member *m = &s->m[k];
        if (!m->is_up || m->is_paused)
            return false;
        if (repl_is_writable_primary(&m->st))
            primary = primary < 0 ? k : -2;
        else if (m->st.member_state != REPL_SECONDARY)
            return false;
    }
    if (primary < 0)
        return false;
    const struct sim_log *pl = &s->m[primary].log;
    for (int k = 0; k < s->n; k++) {
        const struct sim_member *m = &s->m[k];
        if (m->log.n != pl->n || m->log.n_durable != m->log.n ||
            m->log.v[m->log.n - 1].prefix_hash != pl->v[pl->n - 1].prefix_hash)
            return false;
        if (optime_compare(m->st.commit_point, pl->v[pl->n - 1].ot) != 0)
            return false;
    }
    return true;
}

void sim_check_final(struct sim *s)
{
    for (int k = 0; k < s->n && !s->has_failed; k++)
        check_has_acked(s, k, INT64_MAX, "at the end of the run");
}
