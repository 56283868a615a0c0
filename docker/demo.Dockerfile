# syntax=docker/dockerfile:1
#
# The demo gateway stand-in (demo/gateway.ts), run from source with tsx.
#   docker build -f docker/demo.Dockerfile -t amqp-trace-proxy-demo:dev .
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies included: tsx runs the TypeScript directly.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY demo ./demo
USER 1000:1000
ENV GATEWAY_PORT=3000
ENTRYPOINT ["node", "--import", "tsx", "demo/gateway.ts"]
