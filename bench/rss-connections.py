#!/usr/bin/env python3
"""RSS of tollgate-proxy idle and with N keep-alive client connections open (issue 15: "RSS no worse
than today"). Starts its own upstream (a tiny threaded HTTP server) and the proxy on loopback, opens
N connections that each send one request and keep the connection, reads VmRSS, closes everything.
Issue 16's targets for the loop data path (release build): idle <= 30 MiB, 1,000 idle keep-alive
connections <= 64 MiB.

Usage: bench/rss-connections.py PATH/TO/tollgate-proxy [N=1000] [--data-path loop|nio] [--threads T]
(without --data-path the proxy uses its own default, loop; --threads is passed only when given)
"""
import argparse
import os
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    request_queue_size = 2048
    daemon_threads = True


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description="RSS of tollgate-proxy idle and with N keep-alive connections")
    parser.add_argument("binary")
    parser.add_argument("count", nargs="?", type=int, default=1000)
    parser.add_argument("--data-path", choices=["loop", "nio"], help="tollgate-proxy run --data-path")
    parser.add_argument("--threads", type=int, help="tollgate-proxy run --threads")
    args = parser.parse_args()
    binary, count = args.binary, args.count
    extra = []
    if args.data_path:
        extra += ["--data-path", args.data_path]
    if args.threads:
        extra += ["--threads", str(args.threads)]
    upstream = Server(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    policies = tempfile.mkdtemp(prefix="tollgate-rss-")
    with open(os.path.join(policies, "routes.yaml"), "w") as f:
        f.write("version: 1\nroutes:\n  - name: all\n    match: { prefix: / }\n    auth: none\n")
    listen, admin = free_port(), free_port()
    proxy = subprocess.Popen(
        [binary, "run", "--upstream", f"http://127.0.0.1:{upstream.server_address[1]}", "--listen", f"127.0.0.1:{listen}",
         "--admin", f"127.0.0.1:{admin}", "--policies", policies] + extra,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", admin), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(1)
        idle = rss_mib(proxy.pid)
        connections = []
        for _ in range(count):
            c = socket.create_connection(("127.0.0.1", listen), timeout=10)
            c.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            connections.append(c)
        statuses = {}
        for c in connections:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            status = data[9:12].decode(errors="replace")
            statuses[status] = statuses.get(status, 0) + 1
        time.sleep(1)
        loaded = rss_mib(proxy.pid)
        label = " ".join(extra) or "default data path"
        print(f"rss ({label}): idle {idle:.1f} MiB; with {count} keep-alive connections (one request each) {loaded:.1f} MiB; statuses {statuses}")
        for c in connections:
            c.close()
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
        upstream.shutdown()


if __name__ == "__main__":
    main()
