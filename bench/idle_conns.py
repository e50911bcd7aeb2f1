"""idle_conns.py - memory cost of idle connections: opens N raw TCP
connections to the server, does one OP_MSG hello on each (so every
connection is fully set up), waits a moment, and reports the growth of the
server's resident set size (VmRSS from /proc/PID/status) per connection.
Usage: idle_conns.py PORT PID [N]. Prints one JSON line."""
import json
import socket
import struct
import sys
import time

import bson


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def hello(sock, request_id):
    body = struct.pack("<I", 0) + b"\x00" + bson.BSON.encode({"hello": 1, "$db": "admin"})
    sock.sendall(struct.pack("<iiii", 16 + len(body), request_id, 0, 2013) + body)
    head = b""
    while len(head) < 16:
        chunk = sock.recv(16 - len(head))
        if not chunk:
            raise EOFError("server closed connection %d" % request_id)
        head += chunk
    length = struct.unpack("<i", head[:4])[0]
    left = length - 16
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise EOFError("server closed connection %d" % request_id)
        left -= len(chunk)


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    time.sleep(0.5)
    before = rss_kib(pid)
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        hello(s, i + 1)
        socks.append(s)
    time.sleep(1.0)
    after = rss_kib(pid)
    # Every connection must still be usable after the others were opened.
    hello(socks[0], n + 1)
    hello(socks[-1], n + 2)
    for s in socks:
        s.close()
    print(json.dumps({"connections": n, "rss_before_kib": before, "rss_after_kib": after,
                      "rss_per_conn_kib": round((after - before) / n, 2)}))


if __name__ == "__main__":
    main()
