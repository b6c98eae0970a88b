#!/usr/bin/env bash
# `make release`: the static release binary, its man pages, and the two artifacts in dist/:
#   dist/mirrorsync-VERSION-linux-MACHINE.tar.gz   (the install tree under one top folder, with INSTALL)
#   dist/mirrorsync_VERSION_ARCH.deb                (built by dpkg-deb; units, conffiles, maintainer scripts)
# The version is the one `mirrorsync --version` prints (Sources/MirrorCLI/MirrorsyncCommand.swift); the packaging
# sources are in packaging/. Swift's standard library and Foundation are linked in (--static-swift-stdlib), so the
# host needs no Swift; the .deb's Depends names the shared libraries the binary still loads, found with ldd and dpkg -S.
# BUILT=DIR packages the mirrorsync and generate-manual already built in DIR (such as .build-release/release, from an
# earlier run) instead of building them, to work on the packaging alone.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
SCRATCH=${SCRATCH:-.build-release}
DIST=${DIST:-dist}
umask 022

step() { printf 'release: %s\n' "$*" >&2; }
fail() { printf 'release: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb dpkg ldd readelf strip objdump gzip tar; do
    command -v "$tool" >/dev/null || fail "'$tool' is missing (scripts/install-deps.sh installs it)"
done

VERSION=$(sed -n 's/^ *version: "\([^"]*\)",$/\1/p' Sources/MirrorCLI/MirrorsyncCommand.swift)
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+([~+.-][0-9A-Za-z.~+-]*)?$ ]] || fail "no version: \"...\" line in Sources/MirrorCLI/MirrorsyncCommand.swift (got '$VERSION')"
ARCH=$(dpkg --print-architecture)
MACHINE=$(uname -m)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
step "mirrorsync $VERSION for linux-$MACHINE ($ARCH)"
[[ $(sed -n '1s/^mirrorsync (\([^)]*\)).*/\1/p' packaging/debian/changelog) == "$VERSION" ]] \
    || fail "packaging/debian/changelog's first entry is not for $VERSION: add one"
# The copyright file names every package the binary links (Package.resolved), each by its checkout.
for package in $(sed -n 's|^ *"location" : "https://[^"]*/\([^/"]*\)",$|\1|p' Package.resolved | sed 's/\.git$//'); do
    grep -qxF "Files: .build/checkouts/$package/*" packaging/debian/copyright \
        || fail "packaging/debian/copyright has no paragraph for $package (Package.resolved): add one, with its licence"
done

# Start-up (docs/benchmarks.md, "Benchmark: start-up and validate"): linked as a fixed-address executable (-no-pie), since a
# position-independent one has the dynamic loader apply about 130,000 relocations to Swift's metadata at every start
# (9.8 million cycles, 97% of the loader's time; `--version` took 1.5 to 2 ms more CPU, and the relocated pages are
# private copies in every agent); the shared libraries, the heap and the stacks stay randomised, the binary's own
# code does not. And without the 43,000 symbols of the
# packages' code in the dynamic symbol table (Swift's static linking exports them): nothing looks them up by name, but
# every dladdr() at start-up walked them all.
LINK=(-Xlinker -no-pie -Xlinker --no-export-dynamic)
started=$(date +%s)
if [[ -n ${BUILT:-} ]]; then
    BIN=$BUILT/mirrorsync
    GENERATE_MANUAL=$BUILT/generate-manual
    [[ -x $BIN && -x $GENERATE_MANUAL ]] || fail "BUILT=$BUILT holds no mirrorsync and generate-manual"
    step "packaging $BIN, built before (BUILT)"
else
    step "swift build -c release --product mirrorsync --static-swift-stdlib ${LINK[*]} --scratch-path $SCRATCH"
    "$SWIFT" build -c release --product mirrorsync --static-swift-stdlib "${LINK[@]}" --scratch-path "$SCRATCH"
    BIN=$("$SWIFT" build -c release --scratch-path "$SCRATCH" --show-bin-path)/mirrorsync
    step "built in $(($(date +%s) - started)) s: $BIN"

    # The man pages: swift-argument-parser's generate-manual reads the binary's own --experimental-dump-help.
    step "swift build -c release --product generate-manual"
    # The same flags as the binary's build, so that neither build undoes the other's.
    "$SWIFT" build -c release --product generate-manual --static-swift-stdlib "${LINK[@]}" --scratch-path "$SCRATCH"
    GENERATE_MANUAL=$(dirname "$BIN")/generate-manual
fi

if ldd "$BIN" | grep -Eq 'lib(swift|Foundation|dispatch|BlocksRuntime)'; then
    ldd "$BIN" >&2
    fail "the binary loads Swift libraries; it must not"
fi
readelf -h "$BIN" | grep -q 'Type: *EXEC' || fail "the binary is position-independent; it is linked with -no-pie"
[[ $("$BIN" --version) == "$VERSION" ]] || fail "the binary says $("$BIN" --version), the package $VERSION"

STAGE=$DIST/stage
NAME=mirrorsync-$VERSION-linux-$MACHINE
ROOT=$STAGE/root
rm -rf "$STAGE" "$DIST/$NAME.tar.gz" "$DIST/mirrorsync_${VERSION}_$ARCH.deb"
mkdir -p "$ROOT"

# The install tree, shared by both artifacts.
install -D -m 0755 "$BIN" "$ROOT/usr/bin/mirrorsync"
strip --strip-unneeded --remove-section=.comment "$ROOT/usr/bin/mirrorsync"
for unit in packaging/systemd/*.service; do
    install -D -m 0644 "$unit" "$ROOT/usr/lib/systemd/system/$(basename "$unit")"
done
# The mirrorsync user and its directories, as systemd-sysusers and systemd-tmpfiles make them (the postinst runs both).
install -D -m 0644 packaging/debian/sysusers.conf "$ROOT/usr/lib/sysusers.d/mirrorsync.conf"
install -D -m 0644 packaging/debian/tmpfiles.conf "$ROOT/usr/lib/tmpfiles.d/mirrorsync.conf"
for env in master slave reconcile; do
    install -D -m 0644 "packaging/etc/$env.env" "$ROOT/etc/mirrorsync/$env.env"
done
install -D -m 0644 packaging/etc/00-master.yaml "$ROOT/etc/mirrorsync/mirrors.d/00-master.yaml"
install -D -m 0644 schemas/mirrors.schema.json "$ROOT/usr/share/mirrorsync/mirrors.schema.json"
install -D -m 0644 deploy/prometheus/mirrorsync-rules.yml "$ROOT/usr/share/mirrorsync/prometheus/mirrorsync-rules.yml"
# The command upstreams' providers (docs/providers.md): --allow-exec /usr/share/mirrorsync/providers allows them.
for provider in providers/*; do
    install -D -m 0755 "$provider" "$ROOT/usr/share/mirrorsync/providers/$(basename "$provider")"
done
DOC=$ROOT/usr/share/doc/mirrorsync
install -D -m 0644 README.md "$DOC/README.md"
# Debian's: the licences of all that the binary holds (DEP-5), the changelog of a native package, and what lintian
# reports that stays, with why.
install -D -m 0644 packaging/debian/copyright "$DOC/copyright"
gzip -9n <packaging/debian/changelog >"$DOC/changelog.gz"
chmod 0644 "$DOC/changelog.gz"
install -D -m 0644 packaging/debian/lintian-overrides "$ROOT/usr/share/lintian/overrides/mirrorsync"
for page in docs/*.md; do install -D -m 0644 "$page" "$DOC/$page"; done
install -D -m 0644 packaging/doc/trees.conf "$DOC/examples/trees.conf"
mkdir -p "$DOC/examples/mirrors.d" "$DOC/examples/ci"
for file in mirrors.d/*.yaml; do
    sed 's|\$schema=\.\./schemas/mirrors\.schema\.json|$schema=/usr/share/mirrorsync/mirrors.schema.json|' "$file" >"$DOC/examples/mirrors.d/$(basename "$file")"
done
cp -R examples/ci/. "$DOC/examples/ci/"
find "$DOC/examples" -type f -exec chmod 0644 {} +

step "man pages"
MAN=$ROOT/usr/share/man/man1
mkdir -p "$MAN"
"$GENERATE_MANUAL" "$BIN" --output-directory "$MAN" --multi-page --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" \
    --section 1 >/dev/null
# generate-manual names a subcommand's page mirrorsync.credential.token.1; Debian spells it mirrorsync-credential-token,
# and packaging/manpages.awk makes each page say so (and read cleanly to whatis and man --warnings). The page of the
# `help` subcommand says nothing that --help does not.
rm -f "$MAN/mirrorsync.help.1"
for page in "$MAN"/*.1; do
    name=$(basename "$page" .1)
    awk -f packaging/manpages.awk "$page" >"$MAN/${name//./-}.1.new"
    rm "$page"
    mv "$MAN/${name//./-}.1.new" "$MAN/${name//./-}.1"
done
ls "$MAN"/mirrorsync.1 "$MAN"/mirrorsync-validate.1 >/dev/null || fail "generate-manual wrote no pages"
gzip -9n "$MAN"/*.1

# The tarball: the same tree under one folder, with the user and token setup the .deb's postinst does.
install -D -m 0755 packaging/debian/postinst "$ROOT/usr/share/mirrorsync/postinst"
cat >"$STAGE/INSTALL" <<EOF
mirrorsync $VERSION for linux-$MACHINE: the binary, its systemd units, settings and man pages.

Needs: rsync, the libraries 'ldd usr/bin/mirrorsync' names (libyaml, libsqlite3, zlib), and systemd's
systemd-sysusers and systemd-tmpfiles (for the postinst below); no Swift.
On Debian or Ubuntu, prefer the .deb (mirrorsync_${VERSION}_$ARCH.deb). Otherwise, as root, from this folder:

    cp -R usr/. /usr/
    cp -R -n etc/. /etc/                 # -n: keeps the settings you already have
    sh /usr/share/mirrorsync/postinst configure   # the mirrorsync user, /var/lib/mirrorsync, /etc/mirrorsync/token
    systemctl daemon-reload

Then: man mirrorsync, and /usr/share/doc/mirrorsync/docs/install.md.
EOF
mkdir -p "$STAGE/tar/$NAME"
cp -R "$ROOT/." "$STAGE/tar/$NAME/"
cp "$STAGE/INSTALL" "$STAGE/tar/$NAME/INSTALL"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$STAGE/tar" -cf - "$NAME" | gzip -9n >"$DIST/$NAME.tar.gz"
rm "$ROOT/usr/share/mirrorsync/postinst"

# Depends: the package of every shared library the binary names (NEEDED; theirs bring their own), and what the
# maintainer scripts and the agents run.
# dpkg knows a library by the path its package ships, /lib/... or /usr/lib/...: try both, before and after symlinks.
owner() {
    local path
    for path in "$1" "$(readlink -f "$1")"; do
        for path in "$path" "${path#/usr}" "/usr$path"; do
            dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 && return 0
        done
    done
    return 1
}
depends=()
while read -r lib; do
    package=$(owner "$lib") || fail "no package owns $lib"
    [[ " ${depends[*]} " == *" $package "* ]] || depends+=("$package")
done < <(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | while read -r soname; do
    ldd "$BIN" | sed -n "s|^[[:space:]]*$soname => \(/[^ ]*\) .*|\1|p; s|^[[:space:]]*\(/[^ ]*/$soname\) .*|\1|p"
done)
glibc=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
DEPENDS=""
for package in $(printf '%s\n' "${depends[@]}" | sort); do
    case $package in
        libc6) DEPENDS+="libc6 (>= $glibc), " ;;
        *) DEPENDS+="$package, " ;;
    esac
done
# systemd-sysusers and systemd-tmpfiles make the user and its directories in the postinst: systemd's own, or the
# standalone ones of a host without systemd as init.
DEPENDS+="rsync, systemd | systemd-standalone-sysusers, systemd | systemd-standalone-tmpfiles"
step "Depends: $DEPENDS"
# What the shipped providers run: only a site that uses them needs them.
SUGGESTS="git, lftp"

mkdir -p "$ROOT/DEBIAN"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$DEPENDS/" -e "s/@SUGGESTS@/$SUGGESTS/" \
    -e "s/@INSTALLED_SIZE@/$(du -sk --apparent-size "$ROOT" | cut -f1)/" packaging/debian/control.in >"$ROOT/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$ROOT/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ROOT/DEBIAN/"
(cd "$ROOT" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/md5sums"
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DIST/mirrorsync_${VERSION}_$ARCH.deb" >/dev/null
rm -rf "$STAGE"

step "done in $(($(date +%s) - started)) s:"
ls -l "$DIST/$NAME.tar.gz" "$DIST/mirrorsync_${VERSION}_$ARCH.deb" >&2
