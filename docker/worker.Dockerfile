# syntax=docker/dockerfile:1
#
# The demo Celery worker (demo/worker), unchanged application code on Debian's Celery 5
# with kombu's default py-amqp transport, exactly as the integration tests run it.
# Debian trixie's Celery 5.5 (the compose tests run this image); bookworm's 5.2 works too
# (the host-side tests run it): --build-arg DEBIAN_IMAGE=debian:bookworm-slim.
#   docker build -f docker/worker.Dockerfile -t amqp-trace-proxy-worker:dev .
ARG DEBIAN_IMAGE=debian:trixie-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-celery \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY demo/worker ./worker
ENV PYTHONUNBUFFERED=1
# nobody: Celery warns when run as root, and the worker needs no writable files.
USER 65534:65534
ENTRYPOINT ["/usr/bin/python3", "-m", "celery", "-A", "worker.app", "worker", "--loglevel=INFO", "--concurrency=2"]
