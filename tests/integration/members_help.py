"""Helpers shared by the member-type and reconfiguration tests.

reconfig() does what mongosh's rs.reconfig does: read the current config,
let the caller change it, bump the version and send replSetReconfig,
retrying while the server says the previous config is not committed yet.
new_member() starts an extra empty tallyd with --replSet, to be added to a
running set."""
import time

from conftest import Server

CONFIGURATION_IN_PROGRESS = 109


def current_config(rs, i):
    r = rs.command(i, {"replSetGetConfig": 1})
    assert r.get("ok") == 1, r
    return r["config"]


def reconfig(rs, i, change, force=False, retries=12, timeout_s=40, **extra):
    """change(cfg) edits the config in place; returns the last reply."""
    reply = None
    for attempt in range(retries):
        cfg = current_config(rs, i)
        change(cfg)
        cfg["version"] = cfg["version"] + 1
        cmd = {"replSetReconfig": cfg}
        if force:
            cmd["force"] = True
        cmd.update(extra)
        reply = rs.command(i, cmd, timeout_s=timeout_s)
        if reply.get("code") != CONFIGURATION_IN_PROGRESS:
            return reply
        time.sleep(0.5 * (attempt + 1))
    return reply


def new_member(rs):
    """An extra empty tallyd of the set, started (not yet in the config)."""
    s = Server(extra_args=["--replSet", rs.name])
    rs.members.append(s)
    s.start()
    return len(rs.members) - 1


def member_entry(rs, i, _id, **opts):
    m = {"_id": _id, "host": rs.host(i)}
    m.update(opts)
    return m


def wait_config_version(rs, i, version, timeout_s=20):
    def has():
        r = rs.try_command(i, {"replSetGetConfig": 1})
        return r is not None and r.get("ok") == 1 and r["config"]["version"] >= version
    rs.wait_until("member %d installs config version %d" % (i, version), has, timeout_s)


def wait_member_state(rs, i, state, timeout_s=30):
    """Waits until member i reports state (its own view)."""
    rs.wait_state(i, state, timeout_s)
