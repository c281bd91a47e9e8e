#!/usr/bin/env bash
# Builds fuseguard's container base image from Debian packages alone (no registry, no Docker daemon): Debian
# bookworm minbase + openjdk-17-jre-headless + fuse3 (fusermount3, for mounts by non-root users and
# auto_unmount) + libfuse2 (libfuse.so.2: fuseguard mounts without it, but jnr-fuse's constructor loads it, so
# migrated jnr-fuse filesystems and the drill's plain control need it) +
# ca-certificates, written as a 'docker save' tarball. It is the default base of the Jib image
# (mvn -Pimage runs this script with --if-missing); by hand:
#   deploy/image/debian-base.sh [--if-missing] [OUT.tar]      (default fuseguard-cli/target/fuseguard-base.tar)
# Needs root and mmdebstrap (installed from Debian when missing); reaches only the Debian mirror.
set -euo pipefail
if_missing=false
if [ "${1:-}" = "--if-missing" ]; then
  if_missing=true
  shift
fi
out="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/fuseguard-cli/target/fuseguard-base.tar}"
if $if_missing && [ -s "$out" ]; then
  echo "debian-base: $out exists; reusing it (delete it to rebuild)" >&2
  exit 0
fi
suite="${SUITE:-bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! command -v mmdebstrap >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "debian-base: needs mmdebstrap and root (apt-get install mmdebstrap)" >&2
    exit 2
  fi
  echo "debian-base: installing mmdebstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2; }
fi
mmdebstrap --variant=minbase --mode=root \
  --include=openjdk-17-jre-headless,fuse3,libfuse2,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --setup-hook='mkdir -p "$1"/usr/share/man/man1' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/layer.tar" "$mirror"

# 'docker save' layout: one layer, an image config naming it by digest, a manifest.
layer_digest="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64","LC_ALL=C.UTF-8"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_digest"]},"history":[{"created_by":"deploy/image/debian-base.sh: mmdebstrap $suite minbase + openjdk-17-jre-headless fuse3 libfuse2"}]}
JSON
config_digest="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
mv "$work/config.json" "$work/$config_digest.json"
cat > "$work/manifest.json" <<JSON
[{"Config":"$config_digest.json","RepoTags":["fuseguard-base:$suite"],"Layers":["layer.tar"]}]
JSON
mkdir -p "$(dirname "$out")"
tar -C "$work" -cf "$out" manifest.json "$config_digest.json" layer.tar
echo "debian-base: wrote $out ($(du -h "$out" | cut -f1)); use -Dimage.base=tar://$(cd "$(dirname "$out")" && pwd)/$(basename "$out")" >&2
