#!/usr/bin/env python3
"""Initial-sync benchmark: time adding a member to a set holding >= 1 GB.

A one-member set is loaded with large random documents (fast bulk inserts),
then a second member is added with replSetReconfig. Measured: the snapshot
phase (reconfig until the new member logged the received copy), the total
(until it is SECONDARY with the primary's optime), bytes copied, MB/s and
documents/s, and, for comparison, raw disk throughput in the same run: dd of
a file of the copy's size with conv=fdatasync into the same file system.

Usage: python3 bench/initial_sync.py [--gb 1.0] [--doc-kb 256]
Needs about 3x the data size free on the temp file system (checked)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from conftest import ReplSet, Server, SECONDARY  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--doc-kb", type=int, default=256)
    a = ap.parse_args()
    want = int(a.gb * (1 << 30))
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 4 * want:
        sys.exit("not enough free space in %s: %d MB free, need %d MB" % (tempfile.gettempdir(), free >> 20,
                                                                          (4 * want) >> 20))
    rs = ReplSet(n=1)
    try:
        rs.up()
        c = rs.client()
        doc_bytes = a.doc_kb * 1024
        n_docs = want // doc_bytes
        t0 = time.monotonic()
        batch = max(1, (8 << 20) // doc_bytes)
        pad = os.urandom(doc_bytes)
        for i in range(0, n_docs, batch):
            # Each document differs (its _id and a few bytes), the bulk is shared random bytes.
            c.bench.big.insert_many([{"_id": k, "salt": os.urandom(16), "pad": pad}
                                     for k in range(i, min(n_docs, i + batch))], ordered=False)
        load_s = time.monotonic() - t0
        data_mb = n_docs * doc_bytes / 1e6
        print("loaded %d documents of %d KB (%.0f MB) in %.1f s" % (n_docs, a.doc_kb, data_mb, load_s))

        s = Server(extra_args=["--replSet", rs.name])
        rs.members.append(s)
        s.start()
        cfg = rs.command(0, {"replSetGetConfig": 1})["config"]
        cfg["members"].append({"_id": 1, "host": rs.host(1)})
        cfg["version"] += 1
        t1 = time.monotonic()
        r = rs.command(0, {"replSetReconfig": cfg}, timeout_s=60)
        assert r.get("ok") == 1, r
        snap_s = None
        while True:
            log = s.log_text()
            m = re.search(r"initial sync: received (\d+) bytes", log)
            if m and snap_s is None:
                snap_s = time.monotonic() - t1
                copy_bytes = int(m.group(1))
            st = rs.try_command(1, {"replSetGetStatus": 1}, timeout_s=2)
            pst = rs.try_command(0, {"replSetGetStatus": 1}, timeout_s=2)
            if (snap_s is not None and st and pst and st.get("myState") == SECONDARY and
                    st["optimes"]["appliedOpTime"] == pst["optimes"]["appliedOpTime"]):
                break
            if time.monotonic() - t1 > 1800:
                sys.exit("the new member did not catch up within 30 minutes")
            time.sleep(0.05)
        total_s = time.monotonic() - t1
        n_copied = rs.direct(1).bench.big.estimated_document_count()
        assert n_copied == n_docs, (n_copied, n_docs)

        ddfile = os.path.join(s.tmpdir, "dd.bin")
        t2 = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", "of=" + ddfile, "bs=4M", "count=%d" % max(1, copy_bytes >> 22),
                        "conv=fdatasync"], check=True, capture_output=True)
        dd_s = time.monotonic() - t2
        os.unlink(ddfile)
        dd_mbs = (max(1, copy_bytes >> 22) << 22) / 1e6 / dd_s
        copy_mb = copy_bytes / 1e6
        print("snapshot phase: %.0f MB copied in %.1f s = %.0f MB/s, %.0f documents/s" %
              (copy_mb, snap_s, copy_mb / snap_s, n_docs / snap_s))
        print("total (reconfig -> caught-up SECONDARY, incl. restart): %.1f s = %.0f MB/s, %.0f documents/s" %
              (total_s, copy_mb / total_s, n_docs / total_s))
        print("raw disk (dd %.0f MB, conv=fdatasync): %.1f s = %.0f MB/s" % (copy_mb, dd_s, dd_mbs))
        print("snapshot phase / raw disk: %.2f" % ((copy_mb / snap_s) / dd_mbs))
    finally:
        rs.cleanup()


if __name__ == "__main__":
    main()
