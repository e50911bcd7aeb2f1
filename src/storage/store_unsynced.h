/* store_unsynced.h - the writerSkipFsync fail point's storage side: commits
 * that are reported durable but not fsync'd, and a record of the state that
 * was, so a test can emulate the power loss that would lose them.
 *
 * While the point is armed, the writer's commits skip fsync (MDB_NOSYNC) and
 * <dbpath>/unsynced-snapshot/data.mdb holds a copy of the data file as of the
 * last commit that was fsync'd. A test that kills the process (kill -9 keeps
 * the page cache, so nothing is really lost) and then moves that copy over
 * <dbpath>/data.mdb before restarting sees exactly what a machine crash would
 * have left: every write acknowledged since the snapshot is gone. When the
 * point is turned off the next commit is fsync'd and the snapshot removed. */
#ifndef TALLY_STORE_UNSYNCED_H
#define TALLY_STORE_UNSYNCED_H

#include "storage/store.h"

/* Writer thread, just before each commit: enters the unsynced state when the
 * point fires (snapshot + MDB_NOSYNC), leaves it when the point is off
 * (fsync + remove the snapshot). A failure to snapshot is logged and the
 * commit stays synced. */
void store_unsynced_before_commit(struct store *s);

#endif
