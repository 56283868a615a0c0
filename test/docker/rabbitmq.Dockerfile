# Test-only stand-in for the official RabbitMQ 4 image: Debian trixie's rabbitmq-server
# (4.0.x) on the local trixie base built by scripts/docker/base-images.sh.
#   DOCKER_BUILDKIT=0 docker build -f test/docker/rabbitmq.Dockerfile -t atp-local/rabbitmq:4.0 .
ARG DEBIAN_IMAGE=atp-local/debian:trixie-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/*
# guest may log in from other containers (the official image's default); plain AMQP on 5672.
RUN printf 'loopback_users = none\nlisteners.tcp.default = 5672\n' > /etc/rabbitmq/rabbitmq.conf
# Debian's /usr/sbin/rabbitmq-server wrapper ignores SIGTERM as PID 1 (docker stop would wait,
# then kill); the real start script stops cleanly. RABBITMQ_LOGS=- logs to docker logs.
ENV RABBITMQ_LOGS=- RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia HOME=/var/lib/rabbitmq
USER rabbitmq
EXPOSE 5672
HEALTHCHECK --interval=2s --timeout=10s --start-period=60s --retries=30 \
  CMD ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
