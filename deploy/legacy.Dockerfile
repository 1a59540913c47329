# The demo legacy app: `node src/legacy.ts` ("Hello you!" on PORT, default 8080). Build from the
# repository root: `make build-images`, or
#   docker build -f deploy/legacy.Dockerfile -t legacy-app:0.1.0 .
# test/deploy/images.test.ts holds this file against the code, the Makefile and the manifests.

# The same base as the sidecar: Node 24 LTS on Debian 12 (bookworm), slim, an exact release.
FROM docker.io/library/node:24.21.0-bookworm-slim
WORKDIR /app
# "type": "module", as in development. src/legacy.ts imports only Node's own modules, so there
# are no dependencies to install.
COPY package.json ./
COPY src/legacy.ts ./src/
# The base image's `node` user, by number so the kubelet can check it against runAsNonRoot.
USER 1000:1000
EXPOSE 8080
# Node itself is PID 1, so SIGTERM reaches the app's handler and it closes cleanly.
ENTRYPOINT ["node"]
CMD ["src/legacy.ts"]
