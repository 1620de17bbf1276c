#!/usr/bin/env bash
# Build hubchaos's images with no registry: a Debian root file system from debootstrap,
# imported with `docker import`, then Dockerfiles that install wheels built on this host.
#
#   docker/build-images.sh [--emulator-only]
#
# Images: hubchaos/debian-python:bookworm (base), hubchaos/mongoemu:latest (member),
# hubchaos/hubchaos:latest (suite: Locust, compose init). The debootstrap tarball is cached
# on this machine only (HUBCHAOS_CACHE, default /var/cache/hubchaos), never in the repository.
# Needs root (debootstrap), docker, and a Python with the project's build tools (PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CACHE=${HUBCHAOS_CACHE:-/var/cache/hubchaos}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=hubchaos/debian-python:bookworm
EMULATOR=hubchaos/mongoemu:latest
SUITE=hubchaos/hubchaos:latest
only_emulator=false
[[ "${1:-}" == "--emulator-only" ]] && only_emulator=true

t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rootfs="$CACHE/debian-bookworm-python3.tar"
if [[ ! -s "$rootfs" ]]; then
    stamp "debootstrap bookworm (minbase + python3) -> $rootfs"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include=python3 bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; exit 1; }
    # Nothing in the image needs docs, locales or package lists.
    rm -rf "$work"/root/usr/share/{doc,man,info,locale} "$work"/root/var/lib/apt/lists/* "$work"/root/var/cache/apt/*
    tar -C "$work/root" -cf "$rootfs.tmp" . && mv "$rootfs.tmp" "$rootfs"
    rm -rf "$work/root"
else
    stamp "debootstrap tarball cached at $rootfs"
fi
stamp "docker import -> $BASE"
docker import "$rootfs" "$BASE" >/dev/null

stamp "wheels: the project and its dependencies"
"$PYTHON" docker/emulator_requirements.py >"$work/emulator-requirements.txt"
mkdir -p "$work/wheelhouse"
"$PYTHON" -m pip wheel -q --disable-pip-version-check --wheel-dir "$work/wheelhouse" . -r "$work/emulator-requirements.txt" pip

stamp "image $EMULATOR"
mkdir -p "$work/emulator/wheels"
cp "$work/emulator-requirements.txt" "$work/emulator/requirements.txt"
# Only the wheels the emulator needs (resolved offline from the wheelhouse), pip and the project.
"$PYTHON" -m pip download -q --no-index --find-links "$work/wheelhouse" -d "$work/emulator/wheels" \
    -r "$work/emulator-requirements.txt" pip
cp "$work"/wheelhouse/hubchaos-*.whl "$work/emulator/wheels/"
docker build -q -f docker/Dockerfile.emulator --build-arg BASE="$BASE" -t "$EMULATOR" "$work/emulator" >/dev/null
emulator_done=$(( $(date +%s) - t0 ))
stamp "emulator image built in ${emulator_done} s (from nothing to $EMULATOR)"

if ! $only_emulator; then
    stamp "image $SUITE"
    mkdir -p "$work/suite"
    mv "$work/wheelhouse" "$work/suite/wheels"
    docker build -q -f docker/Dockerfile.suite --build-arg BASE="$BASE" -t "$SUITE" "$work/suite" >/dev/null
fi
stamp "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^hubchaos/' | tr '\n' ' ')"
