#!/usr/bin/env bash
# Installs the system tools the tests use: a real registry, peers that check our output,
# and what the tests need to make their own fixtures. Debian 12; run as root (or with sudo).
set -euo pipefail
packages=(docker-registry skopeo umoci pigz zstd busybox-static apache2-utils openssl ca-certificates)
# test/cli/completion.test.ts runs the completion scripts in the real shells.
packages+=(bash zsh)
# test/support/debian-base.ts: debootstrap (needs the archive keyring to check the mirror's Release file).
packages+=(debootstrap debian-archive-keyring)
# test/support/podman.ts runs built images with rootful podman on runc (crun does not work on these
# machines; naming runc also keeps apt from picking crun for podman's "crun | runc"). conmon and
# containers-common with a network stack (netavark) come as dependencies. Not needed, so not
# installed: uidmap, slirp4netns, fuse-overlayfs (rootless only), catatonit.
packages+=(podman runc)
# The Dockerfile builders (src/build/backends): buildah runs the generated Dockerfile in the e2e
# test (test/e2e/dockerfile-buildah.test.ts) with --isolation chroot and storage in a temp dir.
packages+=(buildah)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The packaged registry starts a system service we do not use; tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
