#!/usr/bin/env python3
"""The Dockerfile's run stage installs exactly the Debian packages the binaries load (by `ldd`),
beyond what the slim base image has; the Swift runtime is linked in statically.

usage: check_image_libraries.py DOCKERFILE BINARY...
The binaries here are debug builds linked to the toolchain's shared Swift runtime: those libraries
are accepted because the image's build stage links with --static-swift-stdlib. Every other library
must come from a package the run stage installs or the base image holds (debian:*-slim: the
Essential packages and apt, with their dependencies, computed from this machine's dpkg database)."""
import os, re, shlex, subprocess, sys

# Not libraries, installed on purpose: the reason is printed with the result.
NOT_LIBRARIES = {"ca-certificates": "trust roots for https JWKS URLs and PostgreSQL over TLS"}

dockerfile, binaries = sys.argv[1], sys.argv[2:]
text = open(dockerfile).read().replace("\\\n", " ")
stages = re.split(r"^FROM\s", text, flags=re.M)
build, run = stages[-2], stages[-1]
failures = []
args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))
codenames = {name: re.search(r"(bookworm|bullseye|trixie|jammy|noble)", value) for name, value in args.items()}
found = {m.group(1) for m in codenames.values() if m}
if len(found) != 1:
    failures.append(f"build and run images must be the same Debian release (ARGs {args})")
if "--static-swift-stdlib" not in build:
    failures.append("the build stage must link the Swift runtime statically (--static-swift-stdlib)")
installed = []
for command in re.findall(r"apt-get install ([^&]*)", run):
    installed += [word for word in shlex.split(command) if not word.startswith("-")]
if not installed:
    failures.append("the run stage installs no packages")


def dpkg_owner(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    for p in candidates:
        result = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0].strip()
    return None


def base_image_packages():
    fields = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n"],
                            capture_output=True, text=True, check=True).stdout
    depends, essential = {}, set()
    for line in fields.splitlines():
        name, is_essential, deps = line.split("\t")
        if is_essential == "yes":
            essential.add(name)
        alternatives = [d.strip() for d in deps.split(",") if d.strip()]
        depends[name] = [re.split(r"[\s(:]", a.split("|")[0].strip())[0] for a in alternatives]
    closure, todo = set(), list(essential | {"apt"})
    while todo:
        name = todo.pop()
        if name in closure or name not in depends:
            continue
        closure.add(name)
        todo += depends[name]
    return closure


base = base_image_packages()
needed = {}
for binary in binaries:
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        match = re.search(r"=>\s*(\S+)", line) or re.match(r"\s*(/\S+)", line)
        if not match:
            continue
        path = match.group(1)
        if path == "not":
            failures.append(f"{os.path.basename(binary)}: {line.strip()}")
            continue
        if "/lib/swift/linux/" in path:
            continue  # the Swift runtime: linked statically in the image
        package = dpkg_owner(path)
        if package is None:
            failures.append(f"{os.path.basename(binary)}: {path} belongs to no Debian package")
            continue
        needed.setdefault(package, set()).add(os.path.basename(path))
for package, libraries in sorted(needed.items()):
    if package not in installed and package not in base:
        failures.append(f"{package} ({', '.join(sorted(libraries))}) is loaded but neither installed by the run stage nor in the base image")
for package in installed:
    if package in NOT_LIBRARIES:
        continue
    # A loaded package the base image also has may be named anyway (libpcre2-8-0 comes with grep):
    # the image then does not depend on what the base image happens to hold.
    if package not in needed:
        failures.append(f"the run stage installs {package}, which no binary loads")
print("run stage installs:", " ".join(installed))
print("binaries load:", ", ".join(f"{p} ({'run stage' if p in installed else 'base image'})" for p in sorted(needed)))
also_base = [p for p in installed if p in base]
if also_base:
    print("named though the base image has them:", " ".join(also_base))
for package in installed:
    if package in NOT_LIBRARIES:
        print(f"also installed: {package}, {NOT_LIBRARIES[package]}")
for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
