#!/usr/bin/env bash
# A local Debian base image for building docker/Dockerfile where no container registry can be
# reached (the CI machines): debootstrap a minimal Debian from the machine's own apt mirror and
# `docker import` it. Cached: does nothing when the image already exists.
#   scripts/docker-base.sh [IMAGE]      default localhost/projhead-base:debian-bookworm
# Then: docker build -f docker/Dockerfile --build-arg BASE_IMAGE=IMAGE .
# Needs root (debootstrap), a running engine (scripts/docker-engine.sh up); installs debootstrap
# when missing. Prints the image name as its last line.
set -euo pipefail
image=${1:-localhost/projhead-base:debian-bookworm}
release=${PROJHEAD_BASE_RELEASE:-bookworm}

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "docker-base: $image exists" >&2
  echo "$image"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "docker-base: debootstrap needs root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker-base: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The Debian mirror this machine's apt already uses (deb822 or one-line sources), else the CDN.
mirror=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -oE '(https?|file)://[^ ]+/debian/?' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /tmp/projhead-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
t0=$(date +%s)
echo "docker-base: debootstrap --variant=minbase $release from $mirror" >&2
debootstrap --variant=minbase "$release" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# apt inside the image uses the same mirror; nothing cached in the image.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" --numeric-owner -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["/bin/bash"]' \
  -m "debootstrap --variant=minbase $release $mirror" - "$image" >/dev/null
echo "docker-base: $image made in $(( $(date +%s) - t0 )) s" >&2
echo "$image"
