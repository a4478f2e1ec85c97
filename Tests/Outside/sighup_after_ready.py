#!/usr/bin/env python3
"""SIGHUP the moment /readyz first answers 200 must reload, never end the process.

Readiness must imply that a reload signal is safe: SIGHUP's default action terminates, so a trap
installed after the admin port answers loses a race that a Kubernetes probe plus a config-reload
sidecar will run. Started from Python (plain signal mask, as from a shell or an init system): the
Swift test harness's children did not reproduce the race. Before the fix 16 of 30 starts died here.

Usage: sighup_after_ready.py PATH/TO/tollgate-proxy [STARTS]   (exit 0: every start survived)
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def metric(port, name):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return name.encode() in data


def main():
    binary, starts = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30
    policies = tempfile.mkdtemp(prefix="tollgate-sighup-")
    with open(os.path.join(policies, "routes.yaml"), "w") as f:
        f.write("version: 1\nroutes:\n  - name: h\n    match: { path: /h }\n    auth: none\n")
    failed = 0
    for start in range(1, starts + 1):
        listen, admin = free_port(), free_port()
        proxy = subprocess.Popen(
            [binary, "run", "--upstream", "http://127.0.0.1:9", "--listen", f"127.0.0.1:{listen}",
             "--admin", f"127.0.0.1:{admin}", "--policies", policies],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline and proxy.poll() is None and not ready(admin):
            pass  # as fast as a probe can: the race is a millisecond wide
        os.kill(proxy.pid, signal.SIGHUP)
        counted = False
        deadline = time.time() + 5
        while time.time() < deadline and proxy.poll() is None and not counted:
            counted = metric(admin, 'tollgate_policy_reloads_total{result="unchanged"} 1')
            time.sleep(0.02)
        if proxy.poll() is not None:
            failed += 1
            print(f"start {start}: the SIGHUP ended the process (status {proxy.returncode})")
        else:
            if not counted:
                failed += 1
                print(f"start {start}: the SIGHUP's reload was not counted")
            proxy.terminate()
            proxy.wait(timeout=20)
    print(f"sighup-after-ready: {starts - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
