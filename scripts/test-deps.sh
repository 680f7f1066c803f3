#!/usr/bin/env bash
# Debian packages some tests use: chromium (the browser view's test),
# edid-decode (checks our EDID blobs), vncsnapshot (a real VNC client for the
# VNC auth test and the native-client harness, with libjpeg-turbo-progs: djpeg
# decodes its JPEG), openssl (its legacy provider checks our DES),
# qemu-system-x86 (QMP input against a real QEMU, and QEMU's VNC server as the
# harness's reference; it depends on seabios, the firmware its guest sits in),
# and tigervnc-viewer under xvfb with x11-apps (xwd) and x11-utils (xwininfo)
# for the harness's TigerVNC (test/support/vnc-clients.ts), python3 (the
# datagram receiver of the sd_notify test, and the socket-group test's client
# as another uid, test/support/vfio-user-version.py, with setpriv from
# util-linux), and systemd and procps (the systemd-analyze that verifies the
# units in contrib/, and the /bin/kill their ExecReload= names; the
# debian:bookworm image has neither). Installed when
# missing and when we can (root with apt-get, as on the project's machines and
# CI); otherwise those tests skip locally and say why. Run explicitly: `npm run
# setup:test`, and by .ci/run before `npm test` (which never installs anything
# itself). Under CI=true a package that cannot be installed is an error.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v edid-decode >/dev/null 2>&1 || need+=(edid-decode)
command -v vncsnapshot >/dev/null 2>&1 || need+=(vncsnapshot)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v djpeg >/dev/null 2>&1 || need+=(libjpeg-turbo-progs)
command -v xtigervncviewer >/dev/null 2>&1 || need+=(tigervnc-viewer)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v xwd >/dev/null 2>&1 || need+=(x11-apps)
command -v xwininfo >/dev/null 2>&1 || need+=(x11-utils)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /bin/kill ] || need+=(procps)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
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
