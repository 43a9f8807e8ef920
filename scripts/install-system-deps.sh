#!/usr/bin/env bash
# Installs the system packages the local stack and the tests need, when they are missing:
#   java    DynamoDB Local (AWS's own implementation) is a Java program   -> Debian: default-jre-headless
#   dovecot the export conformance tests serve bundles with a real Dovecot -> Debian: dovecot-imapd
#   age     encrypted bundles are checked against the age CLI, both ways  -> Debian: age
# Usage: scripts/install-system-deps.sh [java] [dovecot] [age]   (no argument: all)
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(java dovecot age)

missing=()
for dep in "${wanted[@]}"; do
  case "$dep" in
    java) command -v java >/dev/null 2>&1 || missing+=(default-jre-headless) ;;
    dovecot) [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd) ;;
    age) command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || missing+=(age) ;;
    *) echo "install-system-deps: unknown dependency '$dep' (java, dovecot, age)" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "(on macOS: brew install openjdk dovecot age)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${missing[*]}. This script knows apt-get only: install them with your package manager." >&2
  exit 1
fi
echo "Installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
# Debian starts the system Dovecot on install; the tests run their own instances, so stop it.
if [[ " ${missing[*]} " == *" dovecot-imapd "* ]]; then
  "${sudo[@]}" systemctl disable --now dovecot >/dev/null 2>&1 || "${sudo[@]}" service dovecot stop >/dev/null 2>&1 || true
fi
