#!/usr/bin/env bash
# Install Debian's Chromium for the Playwright browser tests (Playwright's own browser download
# cannot work offline; the tests launch /usr/bin/chromium through executable_path).
# Idempotent: does nothing when chromium is already there. Needs root (or sudo) to install.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "chromium is not installed and this user cannot install it: run 'apt-get install -y chromium' as root" >&2
  echo "(the browser tests skip without it; CI, with B2BREC_REQUIRE_SERVICES=1, fails instead)" >&2
  exit 0
fi
echo "installing Debian chromium for the browser tests"
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1
} || echo "could not install chromium (apt-get failed)" >&2
exit 0
