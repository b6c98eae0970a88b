#!/usr/bin/env bash
# Installs what mirrorsync needs to build and test on a Debian machine, and nothing that is already there.
# As root it runs apt-get and pip itself; otherwise it prints the exact commands and fails.
set -euo pipefail

# libcurl4-openssl-dev: the static release build links FoundationNetworking, which links libcurl;
# binutils (strip, objdump) for make release; git for the pre-commit test and the git-mirror provider's test; curl
# plays the upstream that pushes; lftp for the lftp-mirror provider's test; lintian checks the .deb in make release-test,
# and systemd's systemd-sysusers and systemd-tmpfiles run the .deb's postinst there (its systemd-analyze checks the units).
debs=(libyaml-dev libsqlite3-dev rsync pkg-config procps libcurl4-openssl-dev binutils git curl lftp lintian systemd)
missing=()
for deb in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || missing+=("$deb")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "install-deps: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "install-deps: missing Debian packages; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v swift >/dev/null; then
    echo "install-deps: no 'swift' on PATH; mirrorsync needs Swift 6.x (https://swift.org/install)" >&2
    exit 1
fi

# The schema agreement test checks schemas/ with Python's jsonschema over PyYAML.
if ! python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    if [[ $(id -u) -eq 0 ]] || [[ -n "${VIRTUAL_ENV:-}" ]]; then
        echo "install-deps: installing jsonschema and PyYAML for python3" >&2
        python3 -m pip install --quiet jsonschema pyyaml 2>/dev/null \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema python3-yaml >/dev/null
    else
        echo "install-deps: python3 lacks jsonschema or PyYAML; run:" >&2
        echo "  python3 -m pip install --user jsonschema pyyaml" >&2
        exit 1
    fi
fi

# The pre-commit hook's test runs pre-commit itself, from PyPI (4.4 or later: `language: unsupported`).
if ! python3 -c 'import sys, pre_commit.constants as c; sys.exit(tuple(map(int, c.VERSION.split(".")[:2])) < (4, 4))' 2>/dev/null \
    || ! command -v pre-commit >/dev/null; then
    if [[ $(id -u) -eq 0 ]] || [[ -n "${VIRTUAL_ENV:-}" ]]; then
        echo "install-deps: installing pre-commit for python3" >&2
        # Debian's python3 refuses pip outside a venv (PEP 668), and its own pre-commit is older than 4.4.
        python3 -m pip install --quiet --upgrade 'pre-commit>=4.4' 2>/dev/null \
            || python3 -m pip install --quiet --upgrade --break-system-packages 'pre-commit>=4.4'
    else
        echo "install-deps: pre-commit 4.4 or later is missing; run:" >&2
        echo "  python3 -m pip install --user 'pre-commit>=4.4'" >&2
        exit 1
    fi
fi
