# Test-only: Debian trixie's kubectl (1.32) to render the kustomizations offline.
#   DOCKER_BUILDKIT=0 docker build -f test/docker/kubectl.Dockerfile -t atp-local/kubectl:1.32 test/docker
ARG DEBIAN_IMAGE=atp-local/debian:trixie-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends kubernetes-client \
 && rm -rf /var/lib/apt/lists/*
USER 65534:65534
ENTRYPOINT ["kubectl"]
