/* exec.h - runs a filter over one collection: plan, iterate, match.
 *
 * Shared by every command that selects documents (find, count, distinct,
 * aggregate, update, delete, findAndModify). It asks the planner for an index,
 * walks the store's iterator over the chosen ranges (or the whole collection),
 * applies the full matcher to every candidate, and drops duplicates that a
 * multikey index scan yields. Positions let a cursor stop after a batch, end
 * its transaction and resume in a new one. */
#ifndef TALLY_EXEC_H
#define TALLY_EXEC_H

#include "core/err.h"
#include "query/match.h"
#include "query/plan.h"
#include "storage/store.h"

#include <bson/bson.h>

struct exec_scan;

/* The transaction, collection and matcher are borrowed for the scan's life.
 * is_reverse asks for a reverse collection scan ({$natural: -1}; an index is
 * then not used). resume_after (nullable) is a position from exec_scan_position
 * of an earlier scan over the same collection, matcher and direction. */
int exec_scan_open(struct store_txn *t, const struct coll_info *c, const struct matcher *m, bool is_reverse,
                   const struct keybuf *resume_after, struct exec_scan **out, struct err *e);
/* 1 with *doc set (static view valid until the next call) and *positional_index
 * (nullable) set as matcher_match_positional does; 0 at the end; negative error. */
int exec_scan_next(struct exec_scan *s, bson_t *doc, int *positional_index, struct err *e);
/* Position after the last document returned (borrowed; copy to keep). */
const struct keybuf *exec_scan_position(const struct exec_scan *s);
/* The plan summary ("COLLSCAN" or "IXSCAN { a: 1 }"). */
const char *exec_scan_summary(const struct exec_scan *s);
/* Documents examined so far (for logs and explain). */
int64_t exec_scan_n_examined(const struct exec_scan *s);
void exec_scan_close(struct exec_scan *s);

/* Dedupe state of a multikey index scan (the _ids already returned), so a
 * cursor that resumes in a new transaction does not return a document twice.
 * exec_scan_take_seen moves it out of the scan (owned by the caller; NULL when
 * the scan needs none); exec_scan_give_seen hands it to a resumed scan (taken). */
struct exec_seen;
struct exec_seen *exec_scan_take_seen(struct exec_scan *s);
void exec_scan_give_seen(struct exec_scan *s, struct exec_seen *seen);
void exec_seen_destroy(struct exec_seen *seen);

#endif
