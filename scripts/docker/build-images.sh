#!/usr/bin/env bash
# Builds every image the container tests use, from the local base images (no registry):
#   amqp-trace-proxy:TAG          docker/Dockerfile as shipped, NODE_IMAGE = the local node base
#   amqp-trace-proxy-demo:TAG     docker/demo.Dockerfile (the gateway stand-in), same base
#   amqp-trace-proxy-worker:TAG   docker/worker.Dockerfile (Celery 5.5), DEBIAN_IMAGE = local trixie
#   atp-local/rabbitmq:4.0        test/docker/rabbitmq.Dockerfile (trixie's rabbitmq-server)
#   atp-local/kubectl:1.32        test/docker/kubectl.Dockerfile (trixie's kubectl)
# The classic builder (DOCKER_BUILDKIT=0) builds the Dockerfiles as they are, without
# pulling BuildKit's frontend image; its layer cache makes unchanged images instant.
# TAG is `checkout-` and a hash of this checkout's path (test/support/docker.ts computes the
# same), so checkouts on one machine testing at once never run each other's builds.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=checkout-$(pwd -P | tr -d '\n' | sha1sum | cut -c1-10)

NODE_BASE=atp-local/node:20-bookworm-slim
TRIXIE_BASE=atp-local/debian:trixie-slim

scripts/docker/engine.sh
scripts/docker/base-images.sh
scripts/docker/engine.sh --compose

build() {
  local tag=$1 dockerfile=$2 context=$3
  shift 3
  local log
  log=$(mktemp)
  local started=$SECONDS
  if ! DOCKER_BUILDKIT=0 docker build --force-rm -f "$dockerfile" -t "$tag" "$@" "$context" >"$log" 2>&1; then
    tail -30 "$log" >&2
    rm -f "$log"
    echo "building $tag from $dockerfile failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$tag: $((SECONDS - started)) s, $(docker image inspect -f '{{ .Size }}' "$tag") bytes"
}

build "amqp-trace-proxy:$TAG" docker/Dockerfile . --build-arg "NODE_IMAGE=$NODE_BASE"
build "amqp-trace-proxy-demo:$TAG" docker/demo.Dockerfile . --build-arg "NODE_IMAGE=$NODE_BASE"
build "amqp-trace-proxy-worker:$TAG" docker/worker.Dockerfile . --build-arg "DEBIAN_IMAGE=$TRIXIE_BASE"
build atp-local/rabbitmq:4.0 test/docker/rabbitmq.Dockerfile test/docker --build-arg "DEBIAN_IMAGE=$TRIXIE_BASE"
build atp-local/kubectl:1.32 test/docker/kubectl.Dockerfile test/docker --build-arg "DEBIAN_IMAGE=$TRIXIE_BASE"
# Replaced layers of earlier builds; the label marks images made from our local bases only.
docker image prune -f --filter label=io.amqp-trace-proxy.recipe >/dev/null
