/* vote.c - the voter side of replSetRequestVotes (digest 1.4), rules checked in
 * MongoDB's order, including the arbiter veto (1.4 rule 6, digest 7).
 *
 * Guarantees: at most one real vote per term (REPL_ASSERT); a granted real vote
 * is answered only after its LastVote is durable (the reply waits in
 * pending_votes for REPL_EV_PERSISTED); dry runs never read or write LastVote
 * and never move our term. */
#include "repl/core_internal.h"

#include <stdio.h>
#include <string.h>

static void reply_now(struct repl_actions *out, uint64_t request_id, int target, const struct repl_vote_response *r)
{
    struct repl_action *a = repl_core_push(out, REPL_ACT_REPLY_VOTE, target);
    a->request_id = request_id;
    a->vote_response = *r;
}

/* Digest 1.4 rule 6: an arbiter refuses when, in an identical config, it sees a
 * healthy primary whose priority is at least the candidate's. */
static int arbiter_veto_primary(const struct repl_state *st, const struct repl_vote_request *req)
{
    if (!st->config.members[st->self].is_arbiter)
        return -1;
    if (req->config_version != st->config.version || req->config_term != st->config.term)
        return -1;
    double cand_priority = st->config.members[req->candidate_index].priority;
    for (int i = 0; i < st->config.n_members; i++) {
        if (i == st->self || i == req->candidate_index)
            continue;
        const struct repl_peer *p = &st->peers[i];
        if (p->is_up && p->state == REPL_PRIMARY && st->config.members[i].priority >= cand_priority)
            return i;
    }
    return -1;
}

/* Fills r; returns true when the vote is granted. */
static bool decide(struct repl_state *st, const struct repl_vote_request *req, struct repl_vote_response *r)
{
    char *why = r->reason;
    size_t n = sizeof r->reason;
    /* Rule 1: candidate's (configTerm, configVersion) older than ours. */
    if (repl_config_compare_version(req->config_term, req->config_version, st->config.term, st->config.version) < 0) {
        snprintf(why, n, "candidate's config with {version: %d, term: %lld} is older than mine with {version: %d, "
                 "term: %lld}", req->config_version, (long long)req->config_term, st->config.version,
                 (long long)st->config.term);
        return false;
    }
    /* Rule 2: candidate's term below ours. */
    if (req->term < st->term) {
        snprintf(why, n, "candidate's term (%lld) is lower than mine (%lld)", (long long)req->term,
                 (long long)st->term);
        return false;
    }
    /* Rule 3: a different replica set. */
    if (strcmp(req->set_name, st->config.set_name) != 0) {
        snprintf(why, n, "candidate's set name (%.100s) differs from mine (%.100s)", req->set_name, st->config.set_name);
        return false;
    }
    /* Rule 4: candidate's data behind ours (term first, then timestamp). Arbiters hold null. */
    struct optime mine = st->config.members[st->self].is_arbiter ? OPTIME_NULL : st->applied;
#ifdef TALLY_MUTATION_NO_FRESHNESS_CHECK
    /* Simulator mutant only (README "Mutations"): votes for a candidate behind us. */
    mine = OPTIME_NULL;
#endif
    if (optime_compare(req->last_applied, mine) < 0) {
        snprintf(why, n, "candidate's data is staler than mine. candidate's last applied OpTime: {ts: %u|%u, t: "
                 "%lld}, my last applied OpTime: {ts: %u|%u, t: %lld}", optime_secs(req->last_applied),
                 optime_inc(req->last_applied), (long long)req->last_applied.term, optime_secs(mine), optime_inc(mine),
                 (long long)mine.term);
        return false;
    }
    /* Rule 5: one real vote per term; dry runs never consult LastVote. */
    if (!req->dry_run && st->last_vote_term == req->term) {
        snprintf(why, n, "already voted for another candidate (%s) this term (%lld)",
                 st->last_vote_candidate >= 0 && st->last_vote_candidate < st->config.n_members
                     ? st->config.members[st->last_vote_candidate].host
                     : "?",
                 (long long)req->term);
        return false;
    }
    /* Rule 6: the arbiter veto. */
    int primary = arbiter_veto_primary(st, req);
    if (primary >= 0) {
        snprintf(why, n, "can see a healthy primary (%s) of equal or greater priority",
                 st->config.members[primary].host);
        return false;
    }
    why[0] = '\0';
    return true;
}

void repl_vote_on_request(struct repl_state *st, const struct repl_event *ev, struct repl_actions *out)
{
    const struct repl_vote_request *req = &ev->vote_request;
    struct repl_vote_response r;
    memset(&r, 0, sizeof r);
    if (!st->has_config || st->self < 0) {
        r.term = st->term;
        snprintf(r.reason, sizeof r.reason, "voter is not a member of a replica set config");
        reply_now(out, ev->request_id, ev->peer, &r);
        return;
    }
    if (req->candidate_index < 0 || req->candidate_index >= st->config.n_members ||
        req->candidate_index == st->self) {
        r.term = st->term;
        snprintf(r.reason, sizeof r.reason, "candidate index %d is not a member of my config", req->candidate_index);
        reply_now(out, ev->request_id, ev->peer, &r);
        return;
    }
    /* Digest 1.3: a real request with a higher term is adopted first (a primary steps down). */
    if (!req->dry_run && strcmp(req->set_name, st->config.set_name) == 0)
        repl_core_update_term(st, out, req->term, "vote request");

    bool granted = decide(st, req, &r);
    r.term = st->term;
    r.vote_granted = granted;
    repl_core_log(st, out, "1.4", "%s vote for %s in term %lld: %s%s", req->dry_run ? "dry-run" : "real",
                  st->config.members[req->candidate_index].host, (long long)req->term,
                  granted ? "granted" : "refused: ", r.reason);
    if (!granted || req->dry_run) {
        reply_now(out, ev->request_id, ev->peer, &r);
        return;
    }
    /* At most one vote per term: the rules above guarantee a fresh term. */
    REPL_ASSERT(st->last_vote_term < req->term);
    st->last_vote_term = req->term;
    st->last_vote_candidate = req->candidate_index;
    uint64_t seq = repl_core_persist_vote(st, out);
    if (st->member_state == REPL_SECONDARY && st->phase == REPL_ELECT_NONE)
        repl_elect_reset_timer(st);
#ifdef TALLY_MUTATION_SKIP_VOTE_PERSIST
    /* Simulator mutant only (README "Mutations"): the grant leaves before LastVote is durable. */
    reply_now(out, ev->request_id, ev->peer, &r);
    return;
#endif

    int slot = 0;
    for (int i = 0; i < REPL_MAX_PENDING_VOTES; i++) {
        if (!st->pending_votes[i].is_used) {
            slot = i;
            break;
        }
        if (st->pending_votes[i].seq < st->pending_votes[slot].seq)
            slot = i;
    }
    /* When full the oldest reply is dropped: to the candidate it is a lost message. */
    struct repl_pending_vote *pv = &st->pending_votes[slot];
    pv->is_used = true;
    pv->request_id = ev->request_id;
    pv->from = ev->peer;
    pv->seq = seq;
    pv->resp = r;
}

void repl_vote_on_persisted(struct repl_state *st, struct repl_actions *out)
{
    /* Reply in persistence order so candidates see answers as they became durable. */
    for (;;) {
        int best = -1;
        for (int i = 0; i < REPL_MAX_PENDING_VOTES; i++) {
            const struct repl_pending_vote *pv = &st->pending_votes[i];
            if (pv->is_used && pv->seq <= st->persisted_seq && (best < 0 || pv->seq < st->pending_votes[best].seq))
                best = i;
        }
        if (best < 0)
            return;
        struct repl_pending_vote *pv = &st->pending_votes[best];
        reply_now(out, pv->request_id, pv->from, &pv->resp);
        pv->is_used = false;
    }
}
