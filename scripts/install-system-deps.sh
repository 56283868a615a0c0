#!/usr/bin/env bash
# Installs the Debian packages of scripts/host-deps.tsv whose command or Python module is
# missing: every host tool the Makefile, scripts/, the tests, the demo and the benchmark use.
# `make test` runs this before anything else. Needs root or sudo when something is missing.
set -euo pipefail
. "$(dirname "$0")/host-deps.sh"

missing=()
while IFS=$'\t' read -r what package _; do
  host_dep_present "$what" || missing+=("$package")
done < <(host_dep_rows)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's docker.io, prometheus, haproxy and rabbitmq-server packages start their service when
# installed; a policy-rc.d answering 101 ("action forbidden", read by invoke-rc.d and
# deb-systemd-invoke) keeps them from starting here (scripts/docker/engine.sh starts dockerd
# itself). Only one this script created is removed.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
