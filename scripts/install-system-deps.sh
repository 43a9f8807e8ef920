#!/usr/bin/env bash
# Installs the system packages the local stack and the tests need, when they are missing:
#   java    DynamoDB Local (AWS's own implementation) is a Java program   -> Debian: default-jre-headless
#   dovecot the export conformance tests serve bundles with a real Dovecot -> Debian: dovecot-imapd
#   mbsync  the tests mirror a served bundle with a real IMAP client       -> Debian: isync
#   bsdtar  the tests unpack bundles with libarchive's tar beside GNU tar  -> Debian: libarchive-tools
#   mailtools  the import tests fetch from a Dovecot with the tools people keep mail with and import their
#              output -> Debian: getmail6, neomutt, isync (mbsync), offlineimap3, mb2md
#   imap-servers  restore's tests write into Cyrus IMAP and Courier-IMAP. Both conflict with dovecot-imapd as
#           installed packages, so their Debian packages are downloaded (apt-get download) and unpacked (dpkg -x)
#           into a cache directory (see below), never installed; the libraries they link are installed.
#   age     encrypted bundles are checked against the age CLI, both ways  -> Debian: age
#   strace  a test reads the mode an export creates its plain parts with from the open calls -> Debian: strace
#   rclone  the bench copies the raw objects with rclone beside sync (the replica's baseline) -> Debian: rclone
# Usage: scripts/install-system-deps.sh [java] [dovecot] [mbsync] [bsdtar] [mailtools] [imap-servers] [age] [strace]
#   [rclone]   (no argument: all but rclone, which only the bench uses)
# The unpacked servers go to $MAIL_ARCHIVER_CACHE/imap-servers (default ~/.cache/mail-archiver/imap-servers, as
# root /var/cache/mail-archiver/imap-servers); test/support/imap-servers.ts reads them from there.
set -euo pipefail

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(java dovecot mbsync bsdtar mailtools imap-servers age strace)

# Server packages unpacked, and the libraries their imapd/master binaries link that a Debian 12 base may lack
# (found with ldd over the unpacked binaries).
SERVER_PACKAGES=(cyrus-imapd cyrus-common courier-imap courier-base courier-authlib libcourier-unicode4)
SERVER_LIBRARIES=(libical3 libpcre3 libgamin0 libgdbm6 libidn12 libicu72 libjansson4 libldap-2.5-0 libpq5 libsasl2-2
  libsasl2-modules libsqlite3-0 libssl3 libwrap0 libxapian30 libxml2 libgnutls30 libkrb5-3)
# As root the servers run as an unprivileged user, who cannot enter /root: the cache is then under /var/cache.
if [ "$(id -u)" -eq 0 ]; then default_cache=/var/cache/mail-archiver; else default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/mail-archiver"; fi
cache="${MAIL_ARCHIVER_CACHE:-$default_cache}/imap-servers"

missing=()
unpack=false
for dep in "${wanted[@]}"; do
  case "$dep" in
    java) command -v java >/dev/null 2>&1 || missing+=(default-jre-headless) ;;
    dovecot) [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd) ;;
    mbsync) command -v mbsync >/dev/null 2>&1 || missing+=(isync) ;;
    bsdtar) command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools) ;;
    mailtools)
      command -v getmail >/dev/null 2>&1 || missing+=(getmail6)
      command -v neomutt >/dev/null 2>&1 || missing+=(neomutt)
      command -v mbsync >/dev/null 2>&1 || missing+=(isync)
      command -v offlineimap >/dev/null 2>&1 || missing+=(offlineimap3)
      command -v mb2md >/dev/null 2>&1 || missing+=(mb2md)
      ;;
    imap-servers)
      if [ ! -f "$cache/complete" ]; then
        unpack=true
        command -v dpkg-query >/dev/null 2>&1 || { echo "imap-servers: needs dpkg and apt-get (Debian/Ubuntu); the tests that use Cyrus and Courier will skip" >&2; unpack=false; }
        if $unpack; then
          for lib in "${SERVER_LIBRARIES[@]}"; do
            dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'ok installed' || missing+=("$lib")
          done
        fi
      fi
      ;;
    age) command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || missing+=(age) ;;
    strace) command -v strace >/dev/null 2>&1 || missing+=(strace) ;;
    rclone) command -v rclone >/dev/null 2>&1 || missing+=(rclone) ;;
    *) echo "install-system-deps: unknown dependency '$dep' (java, dovecot, mbsync, bsdtar, mailtools, imap-servers, age, strace, rclone)" >&2; exit 2 ;;
  esac
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "(on macOS: brew install openjdk dovecot isync libarchive age; strace is Linux-only)" >&2
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
fi

if $unpack; then
  echo "Unpacking ${SERVER_PACKAGES[*]} into $cache ..." >&2
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  # As root, apt downloads as its sandbox user _apt, who cannot write into a private temporary directory.
  sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$download" && apt-get download -qq "${sandbox[@]}" "${SERVER_PACKAGES[@]}" >&2) || {
    echo "imap-servers: apt-get download failed (run apt-get update?); the tests that use Cyrus and Courier will skip" >&2
    exit 0
  }
  rm -rf "$cache.tmp"
  mkdir -p "$cache.tmp"
  chmod 0755 "$(dirname "$cache")" "$cache.tmp"
  for deb in "$download"/*.deb; do dpkg -x "$deb" "$cache.tmp"; done
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
  (cd "$download" && ls ./*.deb) >"$cache/complete"
fi
