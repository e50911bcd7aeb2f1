/* net.h - listeners and client connections on the loop thread.
 *
 * net_start binds every address of cfg.bind_ip and accepts connections; each
 * connection reads one message at a time, decodes it (wire.h), hands it to
 * cmd_dispatch and writes the reply. net_stop stops accepting and closes every
 * connection; a connection with a command in flight stays allocated until the
 * command's reply callback has run. Loop thread only. */
#ifndef TALLY_NET_H
#define TALLY_NET_H

#include "core/err.h"
#include "net/server.h"

#include <stdbool.h>
#include <stdint.h>

/* Listens on every address in srv->cfg.bind_ip at srv->cfg.port; sets
 * srv->net and srv->port. On failure nothing stays open. */
int net_start(struct server *srv, struct err *e);
/* Closes the listeners and every connection (idempotent). */
void net_stop(struct server *srv);
/* Frees what net_start allocated; call after the loop has stopped. */
void net_destroy(struct server *srv);
/* Records that connection conn_id sent hello's client metadata; returns true
 * when it had already (mongod refuses the second: ClientMetadataCannotBeMutated).
 * Unknown ids (unit tests, closed connections) return false. */
/* Whether connection conn_id is still open (loop thread). */
bool net_conn_is_open(struct server *srv, int64_t conn_id);
bool net_conn_mark_client_metadata(struct server *srv, int64_t conn_id);

#endif
