# The sidecar: `node runtimes/node.ts`, the same .ts sources as in development (Node 24 strips the
# types itself; there is no build step). Build from the repository root: `make build-images`, or
#   docker build -f deploy/sidecar.Dockerfile -t sidecar:0.1.0 .
# test/deploy/images.test.ts holds this file against the code, the Makefile and the manifests.

# Node 24 LTS on Debian 12 (bookworm), slim variant, pinned to an exact release.
FROM docker.io/library/node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, exactly as locked, with no install scripts (none of them has one).
# Exec form needs no shell in the image, only npm and /usr/bin/env, as every node image has.
RUN ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]

FROM docker.io/library/node:24.21.0-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# "type": "module", as in development.
COPY package.json ./
# The runtime-agnostic core, and of runtimes/ only the Node adapter and the files it imports.
COPY src/ ./src/
COPY runtimes/node.ts runtimes/node-upstream.ts runtimes/node-tunnel.ts runtimes/node-client-error.ts runtimes/fd-stdout.ts runtimes/process-metrics.ts runtimes/tcp-probe.ts runtimes/node-tls.ts runtimes/tls-files.ts ./runtimes/
# The base image's `node` user, by number: the kubelet can check a number against runAsNonRoot,
# not a name. The files above stay root's: the process cannot change its own code.
USER 1000:1000
EXPOSE 8000 9901
# Node itself is PID 1 (no shell, no docker-entrypoint.sh in between), so SIGTERM reaches the
# sidecar's handler and it drains before exiting.
ENTRYPOINT ["node"]
CMD ["runtimes/node.ts"]
