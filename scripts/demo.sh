#!/usr/bin/env bash
# make demo: a whole mirror site on this machine, told step by step. It makes an upstream (a generated tree served by
# a local rsync daemon), a mirrors.d for a master and two slaves on loopback ports, runs `mirrorsync up`, edits the
# YAML live and changes the upstream, and ends with a summary. Everything it makes is in one folder (DEMO_DIR,
# default ./demo). KEEP=1 leaves the site running.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
demo=$(realpath -m "${DEMO_DIR:-demo}")
keep=${KEEP:-0}
swift=${SWIFT:-swift}

bold=""; dim=""; reset=""
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'; fi
step=0
started=$(date +%s.%N)
say() { step=$((step + 1)); printf '\n%s== %d. %s%s\n' "$bold" "$step" "$*" "$reset"; }
run() { printf '%s$ %s%s\n' "$dim" "${*/#$bin/mirrorsync}" "$reset"; "$@"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"; }
fail() { printf 'demo: %s\n' "$*" >&2; [[ -f $demo/up.log ]] && { echo "--- the end of $demo/up.log:" >&2; tail -30 "$demo/up.log" >&2; }; exit 1; }

# A site a previous `make demo KEEP=1` left running is stopped first: the folder is made anew.
if [[ -f $demo/up.pid ]]; then kill -INT "$(cat "$demo/up.pid")" 2>/dev/null && sleep 2 || true; fi
if [[ -f $demo/upstream.pid ]]; then kill "$(cat "$demo/upstream.pid")" 2>/dev/null || true; fi
rm -rf "$demo"
mkdir -p "$demo"

say "Build mirrorsync (debug)"
printf '%s$ %s build --product mirrorsync%s\n' "$dim" "$swift" "$reset"
"$swift" build --product mirrorsync 2>&1 | tail -1
bin="$("$swift" build --show-bin-path)/mirrorsync"
build_done=$(date +%s.%N)

up_pid=""; upstream_pid=""
cleanup() {
    [[ $keep == 1 && ${finished:-0} == 1 ]] && return
    [[ -n $up_pid ]] && kill -INT "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
    [[ -n $upstream_pid ]] && kill "$upstream_pid" 2>/dev/null && wait "$upstream_pid" 2>/dev/null || true
}
trap cleanup EXIT

say "Make an upstream: Debian-like and kernel-like trees, and GNU's, served by an rsync daemon on loopback"
python3 - "$demo/upstream" <<'PY'
import os, sys
root = sys.argv[1]
def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f: f.write(data)
packages = []
for i in range(2400):
    name = f"pkg{i:04d}"
    path = f"pool/main/{name[3]}/{name}/{name}_1.0-1_amd64.deb"
    write(f"{root}/debian/{path}", (name * 80).encode())
    packages.append(f"Package: {name}\nVersion: 1.0-1\nFilename: {path}\n")
write(f"{root}/debian/dists/stable/main/binary-amd64/Packages", "\n".join(packages).encode())
write(f"{root}/debian/dists/stable/Release", b"Suite: stable\nCodename: demo\n")
for major in range(3, 7):
    for minor in range(0, 150):
        write(f"{root}/kernel/v{major}.x/linux-{major}.{minor}.tar.xz", bytes([minor % 256]) * 1500)
for version in ("2.10", "2.11", "2.12"):
    write(f"{root}/gnu/hello/hello-{version}.tar.gz", version.encode() * 700)
PY
count=$(find "$demo/upstream" -type f | wc -l)
echo "$count files in $demo/upstream (debian: pool/ and dists/; kernel; gnu)"
ports=($(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'))
upstream_port=${ports[0]}; master_port=${ports[1]}; rsyncd_port=${ports[2]}; ftp1_port=${ports[3]}; ftp2_port=${ports[4]}
mkdir -p "$demo/upstream-rsyncd"
cat >"$demo/upstream-rsyncd/rsyncd.conf" <<CONF
use chroot = no
log file = $demo/upstream-rsyncd/rsyncd.log
[debian]
    path = $demo/upstream/debian
    read only = yes
[kernel]
    path = $demo/upstream/kernel
    read only = yes
[gnu]
    path = $demo/upstream/gnu
    read only = yes
CONF
rsync --daemon --no-detach --config="$demo/upstream-rsyncd/rsyncd.conf" --address=127.0.0.1 --port="$upstream_port" &
upstream_pid=$!
echo "$upstream_pid" >"$demo/upstream.pid"
echo "rsync://127.0.0.1:$upstream_port/ serves the modules debian, kernel and gnu"

say "Write mirrors.d: a master and two slaves on loopback ports, two projects (debian in two stages)"
mkdir -p "$demo/mirrors.d"
cat >"$demo/mirrors.d/00-master.yaml" <<YAML
# yaml-language-server: \$schema=$repo/schemas/mirrors.schema.json
master:
  api: http://127.0.0.1:$master_port
  tokenFile: $demo/state/token       # the operator's: made by mirrorsync up on its first run; each agent gets its own
  root: $demo/trees/master
  rsyncd: { address: 127.0.0.1, port: $rsyncd_port }
YAML
cat >"$demo/mirrors.d/10-intervals.yaml" <<YAML
intervals:
  hourly: { every: 1h }
  frequent: { every: 15m, jitter: 1m }
YAML
cat >"$demo/mirrors.d/20-upstreams.yaml" <<YAML
upstreams:
  debian: { url: "rsync://127.0.0.1:$upstream_port/debian/" }
  kernel-org: { url: "rsync://127.0.0.1:$upstream_port/kernel/" }
  gnu: { url: "rsync://127.0.0.1:$upstream_port/gnu/" }
YAML
cat >"$demo/mirrors.d/30-slaves.yaml" <<YAML
slaves:
  ftp1: { api: "http://127.0.0.1:$ftp1_port", publicDir: $demo/trees/ftp1 }
  ftp2: { api: "http://127.0.0.1:$ftp2_port", publicDir: $demo/trees/ftp2 }
YAML
cat >"$demo/mirrors.d/40-projects.yaml" <<YAML
projects:
  debian:
    upstream: debian
    interval: hourly
    twoStage: ["Packages*", "Release*"]   # the index files last, so apt never sees one that names a missing file
    slaves: all
  kernel:
    upstream: kernel-org
    interval: hourly
    slaves: all
YAML
run cat "$demo/mirrors.d/40-projects.yaml"

say "Validate it offline"
run "$bin" validate "$demo/mirrors.d"

say "Start the site: mirrorsync up runs the master, ftp1, ftp2 and reconcile --watch as child processes"
printf '%s$ mirrorsync up %s --state-dir %s > %s &%s\n' "$dim" "$demo/mirrors.d" "$demo/state" "$demo/up.log" "$reset"
"$bin" up "$demo/mirrors.d" --state-dir "$demo/state" >"$demo/up.log" 2>&1 &
up_pid=$!
echo "$up_pid" >"$demo/up.pid"
t0=$(date +%s.%N)

same() { diff -rq "$1" "$2" >/dev/null 2>&1; }
wait_for() { # SECONDS WHAT COMMAND...
    local seconds=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + seconds ))
    until "$@"; do
        kill -0 "$up_pid" 2>/dev/null || fail "mirrorsync up ended while waiting for $what"
        (( $(date +%s) < deadline )) || fail "$what did not happen within $seconds s"
        sleep 0.2
    done
}
served() { # PROJECT [UPSTREAM-DIR]: both slaves hold the upstream's tree
    same "$demo/upstream/${2:-$1}" "$demo/trees/ftp1/$1" && same "$demo/upstream/${2:-$1}" "$demo/trees/ftp2/$1"
}
wait_for 90 "the first syncs reaching both slaves" served debian
wait_for 60 "kernel reaching both slaves" served kernel
echo "the upstream's trees are on the master and on both slaves after $(elapsed "$t0") s; up's log so far:"
grep -E '^(up|reconcile) ' "$demo/up.log" | sed 's/^/    /' | head -12

say "Every project on every host"
run "$bin" status "$demo/mirrors.d"

say "A change as a merge request would show it: add project gnu, sync kernel every 15 minutes (the dry-run plan)"
rm -rf "$demo/mirrors.d.next"; cp -r "$demo/mirrors.d" "$demo/mirrors.d.next"
python3 - "$demo/mirrors.d.next/40-projects.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
head, kernel = text.split("  kernel:\n")
kernel = kernel.replace("interval: hourly", "interval: frequent")
open(path, "w").write(head + "  kernel:\n" + kernel + "  gnu:\n    upstream: gnu\n    interval: hourly\n    slaves: [ftp1]\n")
PY
run diff -u "$demo/mirrors.d/40-projects.yaml" "$demo/mirrors.d.next/40-projects.yaml" || true
set +e
run "$bin" reconcile "$demo/mirrors.d.next" --dry-run
code=$?
set -e
[[ $code == 2 ]] || fail "the dry-run should exit 2 (changes pending); it exited $code"
echo "(exit status 2: changes pending)"

say "Merge it: the watcher sees the save and the reconciler applies the plan"
before=$(grep -c 'reconcile finished' "$demo/up.log" || true)
t1=$(date +%s.%N)
cp "$demo/mirrors.d.next/40-projects.yaml" "$demo/mirrors.d/40-projects.yaml"
converged() { (( $(grep -c 'reconcile finished' "$demo/up.log") > before )) \
    && grep 'reconcile finished' "$demo/up.log" | tail -1 | grep -q 'outcome=converged'; }
wait_for 30 "the edit converging" converged
echo "every agent converged $(elapsed "$t1") s after the save:"
grep 'reconcile finished' "$demo/up.log" | tail -1 | sed 's/^/    /'
wait_for 60 "gnu reaching ftp1" same "$demo/upstream/gnu" "$demo/trees/ftp1/gnu"
[[ ! -e $demo/trees/ftp2/gnu ]] || fail "gnu is served on ftp2, which it is not assigned to"
echo "gnu is served on ftp1 (and only there) $(elapsed "$t1") s after the save"
run "$bin" reconcile "$demo/mirrors.d" --dry-run

say "The upstream changes: a new package, a new index; the master syncs, triggers both slaves, and they pull"
python3 - "$demo/upstream/debian" <<'PY'
import os, sys
root = sys.argv[1]
path = "pool/main/9/pkg9999/pkg9999_2.0-1_amd64.deb"
os.makedirs(os.path.dirname(f"{root}/{path}"), exist_ok=True)
open(f"{root}/{path}", "wb").write(b"new" * 1000)
with open(f"{root}/dists/stable/main/binary-amd64/Packages", "a") as f:
    f.write(f"\nPackage: pkg9999\nVersion: 2.0-1\nFilename: {path}\n")
PY
t2=$(date +%s.%N)
run "$bin" sync debian "$demo/mirrors.d" --wait
wait_for 60 "the new revision reaching both slaves" served debian
echo "both slaves serve the new package and its index $(elapsed "$t2") s after the upstream changed"
run "$bin" status "$demo/mirrors.d"

finished=1
total=$(elapsed "$build_done")
say "Done in $total s after the build"
cat <<TEXT
What ran:   an upstream rsync daemon (rsync://127.0.0.1:$upstream_port/), and 'mirrorsync up' with the master
            (http://127.0.0.1:$master_port, its rsync daemon on port $rsyncd_port), the slaves ftp1 and ftp2,
            and 'reconcile --watch'; their logs are in $demo/up.log.
The trees:  upstream $demo/upstream, master $demo/trees/master, slaves $demo/trees/ftp1 and $demo/trees/ftp2.
The config: $demo/mirrors.d; the agents' stores and credentials (each its own: docs/security.md) and the operator's token in $demo/state.
Again by hand:
            $bin up $demo/mirrors.d --state-dir $demo/state
TEXT
if [[ $keep == 1 ]]; then
    echo "KEEP=1: the site is still running (up: pid $up_pid, the upstream: pid $upstream_pid). Stop it with:"
    echo "            kill -INT $up_pid; kill $upstream_pid"
else
    printf 'Stopping the site (Ctrl-C to mirrorsync up) ... '
    code=0
    kill -INT "$up_pid"; wait "$up_pid" || code=$?
    up_pid=""
    [[ $code == 0 ]] || fail "mirrorsync up exited $code on SIGINT"
    kill "$upstream_pid"; wait "$upstream_pid" 2>/dev/null || true
    upstream_pid=""
    rm -f "$demo/up.pid" "$demo/upstream.pid"
    echo "stopped (exit 0). Everything it made is in $demo; 'make demo KEEP=1' leaves the site running."
fi
