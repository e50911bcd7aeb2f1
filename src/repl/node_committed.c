/* node_committed.c - the commit point, published for other threads.
 *
 * The core's commit point lives on the loop thread. Majority reads run on
 * thread-pool threads: they hold a read snapshot and wait here until the
 * commit point reaches the newest oplog entry in that snapshot, at which point
 * everything the snapshot shows is majority-committed. The loop publishes the
 * commit point after every step; waiters sleep on a condition variable. */
#include "repl/node_internal.h"

#include <errno.h>
#include <time.h>

void node_committed_init(struct repl_node *n)
{
    pthread_mutex_init(&n->committed_mu, NULL);
    pthread_cond_init(&n->committed_cv, NULL);
    n->committed = OPTIME_NULL;
    n->is_committed_closed = false;
}

void node_committed_publish(struct repl_node *n)
{
    if (optime_compare(n->st.commit_point, n->committed) <= 0)
        return;
    pthread_mutex_lock(&n->committed_mu);
    n->committed = n->st.commit_point;
    pthread_cond_broadcast(&n->committed_cv);
    pthread_mutex_unlock(&n->committed_mu);
}

void node_committed_close(struct repl_node *n)
{
    pthread_mutex_lock(&n->committed_mu);
    n->is_committed_closed = true;
    pthread_cond_broadcast(&n->committed_cv);
    pthread_mutex_unlock(&n->committed_mu);
}

void node_committed_destroy(struct repl_node *n)
{
    pthread_cond_destroy(&n->committed_cv);
    pthread_mutex_destroy(&n->committed_mu);
}

int repl_node_wait_committed(struct repl_node *n, struct optime target, int64_t timeout_ms, struct err *e)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&n->committed_mu);
    while (rc == 0 && !n->is_committed_closed && optime_compare(n->committed, target) < 0)
        rc = pthread_cond_timedwait(&n->committed_cv, &n->committed_mu, &deadline);
    bool is_reached = optime_compare(n->committed, target) >= 0;
    bool is_closed = n->is_committed_closed;
    pthread_mutex_unlock(&n->committed_mu);
    if (is_reached)
        return 0;
    if (is_closed)
        return err_set(e, ERR_SHUTDOWN_IN_PROGRESS, "the server is shutting down");
    (void)rc;
    return err_set(e, ERR_MAX_TIME_MS_EXPIRED,
                   "readConcern majority: the data this read would see was not majority-committed within %lld ms "
                   "(no majority of the replica set may be reachable)",
                   (long long)timeout_ms);
}
