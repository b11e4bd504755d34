#!/bin/bash
# A Docker engine for the image tests, with nothing depending on a system service: installs Debian's
# docker.io (dockerd, containerd, runc, ctr) and debootstrap when missing (needs root), then starts the
# private engine — own data root, exec root and socket under $ESTATE_DOCKER_ROOT (default
# /tmp/estate-docker) — unless it already answers. Idempotent; about a second when all is present.
# Prints the DOCKER_HOST=… line to use.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing ${missing[*]}: install the Debian package(s) as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exec .venv/bin/estate image engine up
