#!/usr/bin/env bash
# The container's runtime setup, under the root folder given ("/" in the image): the service
# user (uid 10001, no login, no home of its own) and the folders it uses, its own only.
set -euo pipefail
root="${1:?give the root folder}"
mkdir -p "$root/etc" "$root/var/lib/flexsync" "$root/etc/flexsync"
if ! grep -q '^flexsync:' "$root/etc/passwd" 2>/dev/null; then
  echo 'flexsync:x:10001:10001:flexsync:/var/lib/flexsync:/usr/sbin/nologin' >> "$root/etc/passwd"
  echo 'flexsync:x:10001:' >> "$root/etc/group"
fi
chown 10001:10001 "$root/var/lib/flexsync"
chmod 0700 "$root/var/lib/flexsync"
chmod 0755 "$root/etc/flexsync"
