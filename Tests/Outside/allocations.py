#!/usr/bin/env python3
"""Allocations per request of the running tollgate-proxy, counted from outside, checked against a ceiling.

The binary runs under an LD_PRELOAD malloc interposer (malloc_counter.c beside this file, compiled
here with `cc`) whose counters live in a shared file this script reads at any moment. For each route
— plain (auth: none, no limits) and jwt (RS256, the fixtures' key and token: verified once, then
answered from the verified-token cache, `sub` forwarded as x-user-id) — over the same CONNECTIONS
keep-alive connections (one request in flight on each, so every request takes the same path):

  warm-up WARMUP requests · idle IDLE seconds (no request: the background rate) · N requests

allocations per request = (allocations during the N − idle rate × their duration) / N. The upstream
is a small asyncio server (another process) answering "ok" with Content-Length; every request must
get 200 "ok". Everything runs on 127.0.0.1 on free ports and is bounded (a deadline per phase).

Usage: allocations.py PATH/TO/tollgate-proxy [--requests N] [--warmup N] [--connections C]
                      [--idle SECONDS] [--check debug|release|none]
--check picks the ceilings below (default: release when the path has /release/, else debug);
exit 1 when a route exceeds its ceiling, 0 otherwise. Prints one line per route.
"""
import argparse
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

# Ceilings: allocations per request, today's value + 15 %. Lower them when the forwarding core
# allocates less (issue 15); raise them only with a reason in the commit message.
# Measured 2026-12-05 on main at 8116f03 (load average ~13 from other builds: the counts do not
# depend on load; two runs agreed to 0.3) with
#   python3 Tests/Outside/allocations.py $(swift build --show-bin-path)/tollgate-proxy --check none
# debug: plain 144.2 / 143.9, jwt 203.0 / 203.1 allocations per request; release (the same command on
# .build-bench/release/tollgate-proxy, built by bench/run-proxy-bench.sh): plain 17.9 / 17.9, jwt 21.0 / 20.9.
# Lowered 2026-12-05 after heads are forwarded as bytes (NIO's HTTP/1 codec gone from both hops, one
# buffer per spliced head, normal paths not copied), same command: debug plain 77.0, jwt 120.0;
# release plain 6.9, jwt 8.9.
# Lowered 2026-12-05 when the data path moved onto the sidecar's own loops (issue 16; the default
# `--data-path loop`): heads built in recycled per-loop buffers, exchanges reused, request ids two
# integers, the access log flushed from the reactor's end of turn; same command: debug plain 50.0,
# jwt 94.0; release plain 0.0, jwt 2.0 (the verified-token cache's lookup key and the claim header).
# Release plain is zero in steady state: its ceiling only absorbs the idle-rate subtraction's noise.
CEILINGS = {
    "debug": {"plain": 58, "jwt": 108},
    "release": {"plain": 0.3, "jwt": 2.3},
}

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures", "jwt")
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
POLICY = """version: 1
issuers:
  rsa: { issuer: https://rsa.test, keys: [keys/rsa.pem], audiences: [conformance], algorithms: [RS256] }
routes:
  - name: jwt
    match: { prefix: /jwt }
    auth: { issuers: [rsa] }
    forward: { claims: { sub: x-user-id } }
  - name: plain
    match: { prefix: / }
    auth: none
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the upstream (run as `allocations.py --serve-upstream PORT` in a process of its own) -----------
async def upstream_connection(reader, writer):
    buffered = b""
    try:
        while chunk := await reader.read(65536):
            buffered += chunk
            answers = 0
            while (end := buffered.find(b"\r\n\r\n")) >= 0:  # GET only: a head and no body
                buffered = buffered[end + 4:]
                answers += 1
            if answers:
                writer.write(OK_RESPONSE * answers)
                await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve_upstream(port):
    server = await asyncio.start_server(upstream_connection, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


# --- the client -------------------------------------------------------------------------------------
class Client:
    def __init__(self, port, connections):
        self.port, self.count, self.streams = port, connections, []

    async def open(self):
        for _ in range(self.count):
            self.streams.append(await asyncio.open_connection("127.0.0.1", self.port))

    async def one(self, stream, request):
        reader, writer = stream
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"allocations: expected 200, got {head[:120]!r}")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if length is None:
            raise SystemExit(f"allocations: response without Content-Length: {head!r}")
        body = await reader.readexactly(length)
        if body != b"ok\n":
            raise SystemExit(f"allocations: expected body ok, got {body!r}")

    async def send(self, request, total, deadline):
        """total requests spread over the connections, one in flight on each; returns seconds taken."""
        shares = [total // self.count + (1 if i < total % self.count else 0) for i in range(self.count)]

        async def run(stream, share):
            for _ in range(share):
                await self.one(stream, request)

        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(run(s, n) for s, n in zip(self.streams, shares))), deadline)
        return time.monotonic() - started

    async def close(self):
        for _, writer in self.streams:
            writer.close()


def read_counters(path):
    with open(path, "rb") as f:
        return struct.unpack("<4Q", f.read(32))


def request_for(path, authorization=None):
    extra = f"Authorization: {authorization}\r\n" if authorization else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: allocations.py\r\n{extra}\r\n".encode()


async def measure(counter_file, port, request, args):
    client = Client(port, args.connections)
    await client.open()
    try:
        await client.send(request, args.warmup, deadline=120)
        before_idle = read_counters(counter_file)
        await asyncio.sleep(args.idle)
        after_idle = read_counters(counter_file)
        seconds = await client.send(request, args.requests, deadline=300)
        after = read_counters(counter_file)
    finally:
        await client.close()
    idle_rate = [(a - b) / args.idle for a, b in zip(after_idle, before_idle)]
    per_request = [max(0.0, (a - b) - rate * seconds) / args.requests
                   for a, b, rate in zip(after, after_idle, idle_rate)]
    return per_request, idle_rate, seconds


def status_of(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request_for(path).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        return s.recv(64)[9:12]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-upstream":
        asyncio.run(serve_upstream(int(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--idle", type=float, default=2.0)
    parser.add_argument("--check", choices=["debug", "release", "none"])
    args = parser.parse_args()
    check = args.check or ("release" if "/release/" in os.path.abspath(args.binary) else "debug")

    work = tempfile.mkdtemp(prefix="tollgate-allocations-")
    started = []
    try:
        library = os.path.join(work, "libmalloc_counter.so")
        compiler = shutil.which("cc") or shutil.which("clang")  # the Swift toolchain ships clang
        if compiler is None:
            raise SystemExit("allocations: no C compiler (cc or clang) on PATH")
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, os.path.join(HERE, "malloc_counter.c")],
                       check=True)
        policies = os.path.join(work, "policies")
        os.makedirs(os.path.join(policies, "keys"))
        shutil.copy(os.path.join(FIXTURES, "policies", "keys", "rsa.pem"), os.path.join(policies, "keys"))
        with open(os.path.join(policies, "routes.yaml"), "w") as f:
            f.write(POLICY)
        with open(os.path.join(FIXTURES, "cases.json")) as f:
            token = next(c["authorization"] for c in json.load(f)["cases"] if c["name"] == "rs256-valid-on-rsa")

        upstream_port, listen, admin = free_port(), free_port(), free_port()
        upstream = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-upstream", str(upstream_port)])
        started.append(upstream)
        counter_file = os.path.join(work, "counters")
        environment = dict(os.environ, LD_PRELOAD=library, MALLOC_COUNTER_FILE=counter_file)
        proxy = subprocess.Popen(
            [args.binary, "run", "--upstream", f"http://127.0.0.1:{upstream_port}", "--listen", f"127.0.0.1:{listen}",
             "--admin", f"127.0.0.1:{admin}", "--policies", policies, "--threads", "2", "--log-format", "json"],
            env=environment, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "proxy.stderr"), "w"))
        started.append(proxy)
        deadline = time.time() + 60
        while True:
            if proxy.poll() is not None:
                raise SystemExit(f"allocations: tollgate-proxy exited: {open(os.path.join(work, 'proxy.stderr')).read()[-2000:]}")
            try:
                if status_of(admin, "/readyz") == b"200" and status_of(listen, "/") == b"200":
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("allocations: tollgate-proxy did not become ready in 60 s")
            time.sleep(0.1)
        if read_counters(counter_file)[0] == 0:
            raise SystemExit("allocations: the interposer counted nothing (LD_PRELOAD not in effect?)")
        if status_of(listen, "/jwt") != b"401":
            raise SystemExit("allocations: /jwt without a token did not answer 401: the route is not the JWT route")

        failed = False
        for route, path, authorization in [("plain", "/", None), ("jwt", "/jwt", token)]:
            per_request, idle_rate, seconds = asyncio.run(
                measure(counter_file, listen, request_for(path, authorization), args))
            allocations, frees, size, reallocs = per_request
            ceiling = CEILINGS.get(check, {}).get(route)
            verdict = "not checked"
            if ceiling is not None:
                verdict = f"ceiling {ceiling}: " + ("ok" if allocations <= ceiling else "EXCEEDED")
                failed |= allocations > ceiling
            print(f"allocations: {route:5} route: {allocations:7.1f} allocations/request ({frees:.1f} frees, "
                  f"{reallocs:.1f} reallocs, {size:,.0f} bytes); {args.requests} requests over {args.connections} "
                  f"keep-alive connections in {seconds:.1f}s, idle {idle_rate[0]:.0f} allocations/s subtracted; {verdict}")
        sys.exit(1 if failed else 0)
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
