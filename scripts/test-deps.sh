#!/usr/bin/env bash
# Debian packages some tests use: chromium (the browser tests), edid-decode
# (checks our EDID blobs) and qemu-system-x86 (a real VNC server for the web
# view's tests). Installed when missing and when we can
# (root with apt-get, as on the project's machines and CI); otherwise those
# tests skip locally and say why. Run explicitly: `npm run setup:test`, and
# by .ci/run before `npm test` (which never installs anything itself). Under
# CI=true a package that cannot be installed is an error.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v edid-decode >/dev/null 2>&1 || need+=(edid-decode)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: ${need[*]} missing and not installable here (need root + apt-get); the tests that use them will skip" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
echo "test-deps: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
  echo "test-deps: apt-get install ${need[*]} failed; the tests that use them will skip" >&2
  [ "${CI:-}" = true ] && exit 1
fi
exit 0
