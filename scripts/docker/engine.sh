#!/usr/bin/env bash
# Makes a Docker engine available to the container tests, or fails saying why:
#   - starts dockerd in the background when none answers (log: /var/log/amqp-trace-proxy-dockerd.log);
#     dockerd comes from Debian's docker.io, which scripts/install-system-deps.sh installs
#     (scripts/host-deps.tsv) before make test runs this;
#   - installs the Compose v2 CLI plugin from Debian trixie's docker-compose package when
#     `docker compose` is missing (bookworm's docker-compose 1.29 cannot read the project's
#     files). The .deb is fetched inside the local trixie base image, so the host's apt
#     sources are never touched; call this again after scripts/docker/base-images.sh.
# The tests never pass without an engine: every failure here exits non-zero.
set -euo pipefail
. "$(dirname "$0")/../host-deps.sh"

LOG=/var/log/amqp-trace-proxy-dockerd.log
TRIXIE_BASE=atp-local/debian:trixie-slim

fail() {
  printf '\nDocker engine unavailable: %s\nThe container tests (image, RabbitMQ 4, compose, webhook) need one; see docs/DEPLOY.md#how-the-tests-run-it.\n\n' "$1" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else fail "not root and no sudo to run: $*"; fi
}

engine_answers() {
  timeout 10 docker info >/dev/null 2>&1
}

if ! engine_answers; then
  require_host_command dockerd "starting the Docker engine for the container tests"
  if pgrep -x dockerd >/dev/null; then
    fail "a dockerd process runs but does not answer on the default socket (docker info: $(timeout 10 docker info 2>&1 | tail -1))"
  fi
  echo "starting dockerd (log: $LOG)"
  as_root sh -c "nohup setsid /usr/sbin/dockerd >>'$LOG' 2>&1 </dev/null &"
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 0.5
  done
  engine_answers || fail "dockerd did not come up within 30 s; last lines of $LOG:
$(tail -5 "$LOG" 2>/dev/null)"
fi

if [ "${1:-}" = --compose ] && ! docker compose version >/dev/null 2>&1; then
  docker image inspect "$TRIXIE_BASE" >/dev/null 2>&1 || fail "$TRIXIE_BASE is missing: run scripts/docker/base-images.sh first"
  echo "installing the Compose v2 plugin (Debian trixie's docker-compose)"
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  docker run --rm -v "$debs:/out" "$TRIXIE_BASE" sh -c \
    'apt-get update -qq && cd /out && apt-get download -qq -o APT::Sandbox::User=root docker-compose' >/dev/null || fail "could not download trixie's docker-compose"
  as_root dpkg -i "$debs"/docker-compose_*.deb >/dev/null || fail "dpkg -i docker-compose failed"
  docker compose version >/dev/null 2>&1 || fail "docker compose still missing after installing the plugin"
fi
