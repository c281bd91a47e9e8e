#!/usr/bin/env bash
# Builds a container base image for fuseguard from Debian packages alone (no registry, no Docker daemon):
# Debian bookworm minbase + openjdk-17-jre-headless + libfuse2 + fuse, written as a 'docker save' tarball
# that Jib takes as its base:  mvn -Pimage -Dimage.base=tar://$PWD/target/fuseguard-base.tar ...
# Needs root and mmdebstrap (apt-get install mmdebstrap); reaches only the Debian mirror of /etc/apt.
set -euo pipefail
out="${1:-target/fuseguard-base.tar}"
suite="${SUITE:-bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v mmdebstrap >/dev/null || { echo "debian-base: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }
mmdebstrap --variant=minbase --mode=root \
  --include=openjdk-17-jre-headless,libfuse2,fuse,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --setup-hook='mkdir -p "$1"/usr/share/man/man1' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/layer.tar" "$mirror"

# 'docker save' layout: one layer, an image config naming it by digest, a manifest.
layer_digest="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_digest"]},"history":[{"created_by":"deploy/image/debian-base.sh: mmdebstrap $suite minbase + openjdk-17-jre-headless libfuse2 fuse"}]}
JSON
config_digest="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
mv "$work/config.json" "$work/$config_digest.json"
cat > "$work/manifest.json" <<JSON
[{"Config":"$config_digest.json","RepoTags":["fuseguard-base:$suite"],"Layers":["layer.tar"]}]
JSON
mkdir -p "$(dirname "$out")"
tar -C "$work" -cf "$out" manifest.json "$config_digest.json" layer.tar
echo "debian-base: wrote $out ($(du -h "$out" | cut -f1)); use -Dimage.base=tar://$(cd "$(dirname "$out")" && pwd)/$(basename "$out")" >&2
