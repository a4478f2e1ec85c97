#!/usr/bin/env python3
"""Summarise `perf script -F comm,tid,ip,sym,dso` output (with call chains, from `perf record -g`) of
tollgate-proxy into Markdown tables. Symbols must already be demangled (pipe through swift-demangle).

  perf script -i perf.data -F comm,tid,ip,sym,dso | swift-demangle --simplified | bench/perf-summary.py

Tables: samples by library; top self symbols; top inclusive frames of the proxy's own code; and
"attributed self time": each sample charged to its nearest caller that is not the Swift runtime,
libc, the kernel or a NIO plumbing frame, which shows who is paying for retain/release, casts,
metadata look-ups and syscalls.
"""
import collections
import re
import sys

TOP = int(sys.argv[1]) if len(sys.argv) > 1 else 25

OWN = re.compile(r"^(specialized |partial apply for |closure #\d+ in |merged |outlined |protocol witness for )*"
                 r"(static )?(ProxyHandler|AccessLog|UpstreamHandler|UpstreamPool|UpstreamConnection|HopByHopHeaders|"
                 r"ForwardPhase|RequestPhase|RoutePhase|Exchange|RequestPath|RequestValidation|TrustedProxies|"
                 r"ProxyMetrics\w*|LoopContext|RequestIDGenerator|JSONText|RouteMatcher|ProblemResponse|PhaseRunner|"
                 r"Phases)\b")
# Frames that only pass work along; attributed time skips them to reach the code that asked for it.
PLUMBING = re.compile(r"(ChannelHandlerContext\.|ChannelPipeline\.|_Channel(In|Out)boundHandler\.|Channel\.write|"
                      r"Channel\.flush|ChannelOutboundInvoker\.|ChannelInboundInvoker\.|HeadChannelHandler|TailChannelHandler|AcceptBackoffHandler|NIOAny|BaseSocketChannel\.|"
                      r"BaseStreamSocketChannel\.|PendingWritesManager|SocketProtocol\.|Socket\.|IdleStateHandler\.|"
                      r"thunk for|EventLoopFuture|EventLoopPromise|CallbackList|NIOLoopBound|reabstraction)")


def parse(stream):
    sample = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if sample:
                yield sample
            sample = []
            continue
        if not line.startswith(("\t", " ")):
            if sample:
                yield sample
            sample = []
            continue
        match = re.match(r"\s*[0-9a-f]+ (.*) \(([^)]*)\)\s*$", line)
        if not match:
            continue
        sym, dso = match.group(1), match.group(2)
        sample.append((sym, dso.rsplit("/", 1)[-1]))
    if sample:
        yield sample


RUNTIME_KINDS = [
    ("retain/release", re.compile(r"retain|release|RefCount|doDecrement|weakLoad|weakAssign|weakInit|weakDestroy", re.I)),
    ("exclusivity checks", re.compile(r"AccessSet|swift_beginAccess|swift_endAccess|SwiftTLSContext")),
    ("dynamic casts", re.compile(r"tryCast|dynamicCast|conformsToProtocol|ConformanceState")),
    ("generic metadata / witness tables", re.compile(
        r"getCache|GenericCache|Metadata|WitnessTable|AssociatedType|instantiate|TypeByMangledName|ConcurrentReadableHashMap")),
    ("allocation", re.compile(r"allocObject|deallocObject|slowAlloc|slowDealloc|deallocClassInstance")),
    ("uniqueness checks", re.compile(r"isUniquelyReferenced")),
]


def runtime_kind(sym):
    for name, pattern in RUNTIME_KINDS:
        if pattern.search(sym):
            return name
    return "other (String and number formatting, hashing, collections, value witnesses)"


def runtime(dso):
    return dso in ("libswiftCore.so", "libc.so.6", "ld-linux-x86-64.so.2", "[kernel.kallsyms]", "[vdso]",
                   "libm.so.6", "libdispatch.so", "libFoundation.so", "libFoundationEssentials.so")


def main():
    by_dso = collections.Counter()
    self_sym = collections.Counter()
    own_inclusive = collections.Counter()
    attributed = collections.defaultdict(collections.Counter)
    runtime_by_own = collections.Counter()
    runtime_by_kind = collections.Counter()
    total = 0
    for frames in parse(sys.stdin):
        total += 1
        leaf_sym, leaf_dso = frames[0]
        by_dso[leaf_dso] += 1
        self_sym[(leaf_sym, leaf_dso)] += 1
        seen = set()
        for sym, _ in frames:
            if OWN.match(sym) and sym not in seen:
                own_inclusive[sym] += 1
                seen.add(sym)
        if leaf_dso == "libswiftCore.so":
            runtime_by_kind[runtime_kind(leaf_sym)] += 1
            runtime_by_own[next((sym for sym, _ in frames if OWN.match(sym)), "(no proxy frame: NIO itself)")] += 1
        owner = None
        for sym, dso in frames:
            if runtime(dso) or sym.startswith("[unknown]") or PLUMBING.search(sym):
                continue
            owner = sym
            break
        kind = ("kernel" if leaf_dso == "[kernel.kallsyms]" else "Swift runtime" if leaf_dso == "libswiftCore.so"
                else "libc" if leaf_dso in ("libc.so.6", "ld-linux-x86-64.so.2") else "binary")
        attributed[owner or "(no caller found)"][kind] += 1
    if total == 0:
        sys.exit("perf-summary: no samples")

    def pct(n):
        return f"{100.0 * n / total:.1f}"

    print(f"Samples: {total}\n")
    print("| library (self) | % of samples |\n| --- | ---: |")
    for dso, n in by_dso.most_common():
        if 100.0 * n / total >= 0.1:
            print(f"| {dso} | {pct(n)} |")
    print(f"\nTop {TOP} symbols by self time:\n\n| % | symbol | library |\n| ---: | --- | --- |")
    for (sym, dso), n in self_sym.most_common(TOP):
        print(f"| {pct(n)} | `{sym[:150]}` | {dso} |")
    print(f"\nThe proxy's own code, inclusive (the frame or anything it called), top {TOP}:\n")
    print("| % | function |\n| ---: | --- |")
    for sym, n in own_inclusive.most_common(TOP):
        print(f"| {pct(n)} | `{sym[:150]}` |")
    runtime_total = sum(runtime_by_own.values())
    print(f"\nSwift runtime self time ({pct(runtime_total)}% of samples: retain/release, exclusivity checks, casts, "
          f"metadata, String) by the nearest frame of the proxy's own code, top {TOP}:\n")
    print("| % | kind (by the runtime function sampled) |\n| ---: | --- |")
    for kind, n in runtime_by_kind.most_common():
        print(f"| {pct(n)} | {kind} |")
    print()
    print("| % | nearest proxy frame |\n| ---: | --- |")
    for sym, n in runtime_by_own.most_common(TOP):
        print(f"| {pct(n)} | `{sym[:150]}` |")
    print(f"\nAttributed self time, top {TOP}: each sample is charged to its nearest caller that is not the "
          f"kernel, the Swift runtime, libc or NIO plumbing (pipeline, channel, socket frames), and split by where "
          f"the sample itself was ('binary' is code linked into tollgate-proxy: its own, NIO's, llhttp's):\n")
    print("| % | caller | kernel | Swift runtime | libc | binary |\n| ---: | --- | ---: | ---: | ---: | ---: |")
    ranked = sorted(attributed.items(), key=lambda item: -sum(item[1].values()))
    for sym, kinds in ranked[:TOP]:
        print(f"| {pct(sum(kinds.values()))} | `{sym[:150]}` | {pct(kinds['kernel'])} | {pct(kinds['Swift runtime'])} "
              f"| {pct(kinds['libc'])} | {pct(kinds['binary'])} |")

if __name__ == "__main__":
    main()
