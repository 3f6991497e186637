#!/usr/bin/env bash
# Write the lab's known_hosts: each host's host key under its lab address, so SSH
# clients verify hosts with StrictHostKeyChecking=yes against this file only.
# Env: KNOWN_HOSTS (file to write), ENTRIES ("address=pubkey-file" pairs, space separated)
set -euo pipefail
: "${KNOWN_HOSTS:?}" "${ENTRIES?}"
umask 077

tmp=$KNOWN_HOSTS.tmp
: >"$tmp"
for entry in $ENTRIES; do
  address=${entry%%=*}
  pub=${entry#*=}
  # A public key file is "type base64 comment"; known_hosts wants "address type base64".
  read -r type key _ <"$pub"
  echo "$address $type $key" >>"$tmp"
done
chmod 600 "$tmp"
mv -f -- "$tmp" "$KNOWN_HOSTS"
