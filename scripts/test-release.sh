#!/usr/bin/env bash
# `make release-test`: checks what `make release` made in dist/, as an operator would meet it.
#  - the tarball holds the install tree (binary, units, settings, schema, man pages, INSTALL);
#  - the .deb installs into a scratch root with `dpkg --root` (maintainer scripts run chrootless with DPKG_ROOT):
#    the mirrorsync user, /var/lib/mirrorsync, the token (0640 root:mirrorsync); a reinstall keeps an edited conffile
#    and the token; remove keeps the settings, purge deletes them;
#  - the installed binary runs under `env -i` (no Swift libraries on any library path): --version and validate;
#    its ldd names no libswift* or libFoundation*;
#  - systemd-analyze verify accepts the units (skipped, and said so, where systemd-analyze is missing);
#  - promtool check rules accepts the installed Prometheus rules (skipped, and said so, where promtool is missing).
#  - lintian, Debian's own checker, finds no error and no warning in the .deb (each it still reports is overridden in
#    packaging/debian/lintian-overrides, with why).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=$(sed -n 's/^ *version: "\([^"]*\)",$/\1/p' Sources/MirrorCLI/MirrorsyncCommand.swift)
ARCH=$(dpkg --print-architecture)
NAME=mirrorsync-$VERSION-linux-$(uname -m)
DEB=dist/mirrorsync_${VERSION}_$ARCH.deb
TARBALL=dist/$NAME.tar.gz

failures=0
pass() { printf 'ok: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf 'skipped: %s\n' "$*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

[[ -f $DEB && -f $TARBALL ]] || { echo "release-test: no $DEB or $TARBALL; run make release" >&2; exit 1; }
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/mirrorsync-release-test.XXXXXX")
master=
trap '[[ -n $master ]] && kill "$master" 2>/dev/null; rm -rf "$SCRATCH"' EXIT

echo "== the tarball: $TARBALL"
tar -tzf "$TARBALL" >"$SCRATCH/tar.list"
for path in INSTALL usr/bin/mirrorsync usr/lib/systemd/system/mirrorsync-master.service \
    usr/lib/systemd/system/mirrorsync-slave@.service usr/lib/systemd/system/mirrorsync-reconcile.service \
    etc/mirrorsync/master.env etc/mirrorsync/slave.env etc/mirrorsync/reconcile.env etc/mirrorsync/mirrors.d/00-master.yaml \
    usr/share/mirrorsync/mirrors.schema.json usr/share/mirrorsync/prometheus/mirrorsync-rules.yml \
    usr/share/mirrorsync/postinst usr/share/man/man1/mirrorsync.1.gz \
    usr/share/man/man1/mirrorsync-reconcile.1.gz usr/share/doc/mirrorsync/README.md usr/share/doc/mirrorsync/docs/install.md \
    usr/share/doc/mirrorsync/examples/mirrors.d/00-master.yaml usr/share/doc/mirrorsync/examples/ci/README.md; do
    check "tarball holds $NAME/$path" grep -qx "$NAME/$path" "$SCRATCH/tar.list"
done
check "tarball has one top folder, $NAME/" test "$(cut -d/ -f1 "$SCRATCH/tar.list" | sort -u)" = "$NAME"
check "tarball's files belong to root" test -z "$(tar -tvzf "$TARBALL" | awk '$2 != "root/root" && $2 != "0/0"')"

echo "== the .deb: $DEB"
dpkg-deb --info "$DEB" >"$SCRATCH/info"
sed -n 's/^ *Depends: /Depends: /p' "$SCRATCH/info"
check "the .deb's version is $VERSION" test "$(dpkg-deb --field "$DEB" Version)" = "$VERSION"
depends=$(dpkg-deb --field "$DEB" Depends)
for package in rsync libyaml-0-2 libsqlite3-0 libc6; do
    check "Depends names $package" grep -Eq "(^|, )$package( |,|$)" <<<"$depends"
done
check "conffiles are the settings and the starter mirrors.d" \
    test "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles | sort | tr '\n' ' ')" \
    = "/etc/mirrorsync/master.env /etc/mirrorsync/mirrors.d/00-master.yaml /etc/mirrorsync/reconcile.env /etc/mirrorsync/slave.env "

echo "== lintian"
if command -v lintian >/dev/null; then
    # One run, shown whole: its errors (E:) and warnings (W:) fail the test; what it says for information (I:) and
    # what is overridden (O:, each with its reason) is shown. (As root it says it would rather not be; no finding.)
    out=$(lintian --fail-on none --display-info --show-overrides "$DEB" 2>&1) || true
    check "lintian: no error and no warning" sh -c "! printf '%s\n' \"\$1\" | grep -Eq '^[EW]: '" - "$out"
    printf '%s\n' "$out" | grep -E '^[EWIO]: ' | grep -v ' spelling-error-in-binary ' | sed 's/^/  /' || true
else
    fail "lintian is not installed (scripts/install-deps.sh installs it; Debian: apt-get install lintian)"
fi

ROOT=$SCRATCH/root
if [[ $(id -u) -eq 0 ]]; then
    # An empty system for dpkg: its database, and the account files that useradd --prefix writes to.
    mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/etc"
    touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
    echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
    echo "root:x:0:" >"$ROOT/etc/group"
    install -m 0640 /dev/null "$ROOT/etc/shadow"
    install -m 0640 /dev/null "$ROOT/etc/gshadow"
    [[ -f /etc/login.defs ]] && cp /etc/login.defs "$ROOT/etc/login.defs"
    # dpkg's own output (the dependencies it was told to ignore) goes to a log, shown when dpkg fails.
    dpkg_root() {
        dpkg --root="$ROOT" --force-script-chrootless --force-depends --log=/dev/null "$@" >"$SCRATCH/dpkg.log" 2>&1 \
            || { sed 's/^/  dpkg: /' "$SCRATCH/dpkg.log"; return 1; }
    }
    check "dpkg --root installs the .deb (maintainer scripts chrootless)" dpkg_root --install "$DEB"
    check "the mirrorsync system user exists" grep -q '^mirrorsync:x:[0-9]*:[0-9]*:.*:/var/lib/mirrorsync:/usr/sbin/nologin$' "$ROOT/etc/passwd"
    gid=$(grep '^mirrorsync:' "$ROOT/etc/group" | cut -d: -f3)
    uid=$(grep '^mirrorsync:' "$ROOT/etc/passwd" | cut -d: -f3)
    check "the user is a system user (uid $uid below 1000)" test "${uid:-1000}" -lt 1000
    check "/etc/mirrorsync/token: 0640 root:mirrorsync, 64 hex digits" \
        test "$(stat -c '%a %u %g' "$ROOT/etc/mirrorsync/token")" = "640 0 $gid" -a "$(tr -d '\n' <"$ROOT/etc/mirrorsync/token" | wc -c)" = 64
    check "/etc/mirrorsync/agent.token and accepted: 0640 root:mirrorsync; accepted names the operator's token by its SHA-256" \
        test "$(stat -c '%a %u %g' "$ROOT/etc/mirrorsync/agent.token" "$ROOT/etc/mirrorsync/accepted" | sort -u)" = "640 0 $gid" \
        -a "$(grep -v '^#' "$ROOT/etc/mirrorsync/accepted")" = "operator sha256:$(tr -d '\n' <"$ROOT/etc/mirrorsync/token" | sha256sum | cut -c1-64)"
    check "the units send agent.token and accept only accepted" \
        test "$(grep -c -- '--token-file ${MIRRORSYNC_TOKEN_FILE} --accept-file ${MIRRORSYNC_ACCEPT_FILE}' "$ROOT/usr/lib/systemd/system/mirrorsync-master.service" "$ROOT/usr/lib/systemd/system/mirrorsync-slave@.service" | grep -c ':1$')" = 2
    check "/var/lib/mirrorsync: 0750 mirrorsync" test "$(stat -c '%a %u %g' "$ROOT/var/lib/mirrorsync")" = "750 $uid $gid"
    check "/etc/mirrorsync/hooks: 0755 root:root, an --allow-exec of both units" \
        test "$(stat -c '%a %u %g' "$ROOT/etc/mirrorsync/hooks")" = "755 0 0" \
        -a "$(grep -c -- '--allow-exec /etc/mirrorsync/hooks ' "$ROOT/usr/lib/systemd/system/mirrorsync-master.service" "$ROOT/usr/lib/systemd/system/mirrorsync-slave@.service" | grep -c ':1$')" = 2
    check "the master's unit allows the shipped providers, and no slave's" \
        test "$(grep -c -- '--allow-exec /usr/share/mirrorsync/providers ' "$ROOT/usr/lib/systemd/system/mirrorsync-master.service")" = 1 \
        -a "$(grep -c -- '/usr/share/mirrorsync/providers' "$ROOT/usr/lib/systemd/system/mirrorsync-slave@.service")" = 0
    token=$(cat "$ROOT/etc/mirrorsync/token")
    echo "MIRRORSYNC_LISTEN=0.0.0.0:7070  # edited" >>"$ROOT/etc/mirrorsync/master.env"
    check "a reinstall goes through" dpkg_root --install "$DEB"
    check "a reinstall keeps the edited master.env" grep -q '# edited' "$ROOT/etc/mirrorsync/master.env"
    check "a reinstall keeps the token" test "$(cat "$ROOT/etc/mirrorsync/token")" = "$token"
    # The binary is exercised below; remove and purge come after.
else
    skip "dpkg --root and the maintainer scripts need root; unpacking with dpkg-deb -x instead"
    mkdir -p "$ROOT"
    dpkg-deb -x "$DEB" "$ROOT"
fi

echo "== the installed files"
for path in /usr/bin/mirrorsync /usr/lib/systemd/system/mirrorsync-master.service /usr/lib/systemd/system/mirrorsync-slave@.service \
    /usr/lib/systemd/system/mirrorsync-reconcile.service /etc/mirrorsync/master.env /etc/mirrorsync/slave.env \
    /etc/mirrorsync/reconcile.env /etc/mirrorsync/mirrors.d/00-master.yaml /usr/share/mirrorsync/mirrors.schema.json \
    /usr/share/man/man1/mirrorsync-master.1.gz /usr/share/doc/mirrorsync/examples/trees.conf; do
    check "installed: $path" test -s "$ROOT$path"
done
for provider in git-mirror lftp-mirror; do
    check "installed: the provider $provider, executable" test -x "$ROOT/usr/share/mirrorsync/providers/$provider"
done
# The tree an agent unit makes writable (ReadWritePaths=) is the one it lets its API put a root in (--allow-root).
allows_its_tree() {
    local tree
    tree=$(sed -n 's/^Environment=MIRRORSYNC_ALLOW_ROOT=//p' "$1")
    # shellcheck disable=SC2016 # the unit's own ${...}, for systemd to expand
    [[ -n $tree ]] && grep -q '^ExecStart=.* --allow-root ${MIRRORSYNC_ALLOW_ROOT} ' "$1" && grep -qxF "ReadWritePaths=-$tree" "$1"
}
for unit in mirrorsync-master.service mirrorsync-slave@.service; do
    check "$unit passes --allow-root with the tree of its ReadWritePaths=" allows_its_tree "$ROOT/usr/lib/systemd/system/$unit"
done
check "the schema is the repository's" cmp -s "$ROOT/usr/share/mirrorsync/mirrors.schema.json" schemas/mirrors.schema.json
check "the Prometheus rules are the repository's" \
    cmp -s "$ROOT/usr/share/mirrorsync/prometheus/mirrorsync-rules.yml" deploy/prometheus/mirrorsync-rules.yml
for page in "$ROOT"/usr/share/man/man1/*.gz; do
    check "man page $(basename "$page") is mdoc" sh -c "gzip -dc '$page' | grep -q '^\\.Dt MIRRORSYNC'"
done

echo "== the installed binary, with no Swift around it"
BIN=$ROOT/usr/bin/mirrorsync
ldd "$BIN" | sed 's/ (0x[0-9a-f]*)//; s/^/  ldd: /'
check "ldd names no libswift* or libFoundation*" sh -c "! ldd '$BIN' | grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime'"
check "ldd finds every library" sh -c "! ldd '$BIN' | grep -q 'not found'"
printf '  size: %s bytes\n' "$(stat -c %s "$BIN")"
check "env -i mirrorsync --version prints $VERSION" test "$(env -i "$BIN" --version)" = "$VERSION"
check "env -i mirrorsync validate /etc/mirrorsync/mirrors.d (the starter)" \
    env -i "$BIN" validate "$ROOT/etc/mirrorsync/mirrors.d"
check "env -i mirrorsync validate the packaged example mirrors.d" \
    env -i "$BIN" validate "$ROOT/usr/share/doc/mirrorsync/examples/mirrors.d"
check "env -i mirrorsync validate the repository's mirrors.d" env -i "$BIN" validate mirrors.d
mkdir -p "$SCRATCH/bad"
printf 'master:\n  api: http://127.0.0.1:7070\n  tokenFile: /etc/mirrorsync/token\n  root: /srv/mirror\n  intervall: 1h\n' >"$SCRATCH/bad/00-master.yaml"
check "env -i mirrorsync validate refuses an invalid directory with FILE:LINE:COLUMN" \
    sh -c "env -i '$BIN' validate '$SCRATCH/bad' 2>&1 >/dev/null | grep -q '^$SCRATCH/bad/00-master.yaml:5:3: error: unknown key'"
check "env -i mirrorsync init writes a starter that validate passes" \
    sh -c "cd '$SCRATCH' && env -i '$BIN' init '$SCRATCH/starter' >/dev/null && env -i '$BIN' validate '$SCRATCH/starter' >/dev/null"
for command in init up master slave reconcile status sync validate; do
    check "env -i mirrorsync $command --help" sh -c "env -i '$BIN' $command --help >/dev/null"
done

echo "== the installed binary as an agent, and the reconciler talking to it (HTTP both ways)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
rsyncd_port=$(free_port)
site=$SCRATCH/site
mkdir -p "$site/mirrors.d"
(umask 077 && echo "release-test-token" >"$site/token")
cat >"$site/mirrors.d/00-master.yaml" <<EOF
master:
  api: http://127.0.0.1:$api_port
  tokenFile: $site/token
  root: $site/mirror
  rsyncd: { address: 127.0.0.1, port: $rsyncd_port }
EOF
env -i PATH=/usr/bin:/bin "$BIN" master --listen "127.0.0.1:$api_port" --token-file "$site/token" --state-dir "$site/state" \
    --allow-root "$site/mirror" --log-level warning 2>"$site/master.log" &
master=$!
for _ in $(seq 1 100); do
    env -i "$BIN" status "$site/mirrors.d" >/dev/null 2>&1 && break
    sleep 0.1
done
set +e
env -i "$BIN" reconcile "$site/mirrors.d" --dry-run --output markdown >"$site/plan.md" 2>&1
planned=$?
env -i "$BIN" reconcile "$site/mirrors.d" >"$site/apply.txt" 2>&1
applied=$?
env -i "$BIN" reconcile "$site/mirrors.d" --dry-run >/dev/null 2>&1
again=$?
mkdir -p "$site/elsewhere.d"
sed "s|root: $site/mirror|root: $site/elsewhere|" "$site/mirrors.d/00-master.yaml" >"$site/elsewhere.d/00-master.yaml"
env -i "$BIN" reconcile "$site/elsewhere.d" --timeout 1 >"$site/elsewhere.txt" 2>&1
elsewhere=$?
kill -TERM "$master"
wait "$master"
stopped=$?
master=
set -e
check "reconcile --dry-run --output markdown against the installed master: changes pending (exit 2)" \
    test "$planned" = 2 -a "$(head -1 "$site/plan.md")" = "<!-- mirrorsync-plan -->"
check "reconcile applies them (exit 0)" test "$applied" = 0
check "then the dry-run finds nothing to do (exit 0)" test "$again" = 0
check "a root outside the master's --allow-root is refused: 403, shown by reconcile (exit 1)" \
    sh -c "test '$elsewhere' = 1 && grep -q \"answered 403: root '$site/elsewhere' is refused\" '$site/elsewhere.txt'"
check "the master stops on SIGTERM with exit 0" test "$stopped" = 0
if ((planned != 2 || applied != 0 || stopped != 0)); then sed 's/^/  /' "$site/plan.md" "$site/apply.txt" "$site/master.log"; fi

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
    units=$SCRATCH/units
    mkdir -p "$units"
    # Against this host's systemd units (network-online.target, ...): copies whose ExecStart runs the installed
    # binary where it is, since verify checks that the command exists. A template is verified through an instance.
    for unit in "$ROOT"/usr/lib/systemd/system/*.service; do
        sed "s|/usr/bin/mirrorsync |$ROOT/usr/bin/mirrorsync |" "$unit" >"$units/$(basename "$unit")"
    done
    ln -s "mirrorsync-slave@.service" "$units/mirrorsync-slave@ftp1.service"
    for unit in mirrorsync-master.service mirrorsync-slave@ftp1.service mirrorsync-reconcile.service; do
        if out=$(systemd-analyze verify --man=no "$units/$unit" 2>&1) && [[ -z $out ]]; then
            pass "systemd-analyze verify $unit"
        else
            fail "systemd-analyze verify $unit"
            printf '%s\n' "$out" | sed 's/^/  /'
        fi
        if exposure=$(systemd-analyze security --offline=yes "$units/$unit" 2>/dev/null | tail -1); then
            printf '  %s: %s\n' "$unit" "${exposure#→ }"
        fi
    done
else
    skip "systemd-analyze verify: systemd-analyze is not installed here (Debian: apt-get install systemd)"
fi

echo "== promtool check rules"
if command -v promtool >/dev/null; then
    check "promtool check rules: the installed Prometheus rules" promtool check rules "$ROOT/usr/share/mirrorsync/prometheus/mirrorsync-rules.yml"
else
    skip "promtool check rules: promtool is not installed here (Debian: apt-get install --no-install-recommends prometheus)"
fi

if [[ $(id -u) -eq 0 ]]; then
    echo "== remove and purge"
    check "dpkg --root --remove" dpkg_root --remove mirrorsync
    check "remove deletes the binary" test ! -e "$ROOT/usr/bin/mirrorsync"
    check "remove keeps the settings, the token and the state" \
        test -f "$ROOT/etc/mirrorsync/master.env" -a -f "$ROOT/etc/mirrorsync/token" -a -d "$ROOT/var/lib/mirrorsync"
    check "dpkg --root --purge" dpkg_root --purge mirrorsync
    check "purge deletes /etc/mirrorsync and /var/lib/mirrorsync" test ! -e "$ROOT/etc/mirrorsync" -a ! -e "$ROOT/var/lib/mirrorsync"
    check "purge leaves the mirrorsync user (files in the trees may be its)" grep -q '^mirrorsync:' "$ROOT/etc/passwd"
fi

if ((failures)); then
    echo "release-test: $failures failed"
    exit 1
fi
echo "release-test: all passed"
