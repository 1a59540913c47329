# The sidecar: one bundled file, dist/sidecar.mjs (runtimes/node.ts and everything it imports,
# packages included, built by scripts/build.ts with esbuild), run by Node with no node_modules,
# and V8's compile cache of it (scripts/compile-cache.ts).
# Development runs the .ts sources; test/conformance/node-bundle.test.ts proves the bundle behaves
# as they do. Build from the repository root: `make build-images`, or
#   docker build -f deploy/sidecar.Dockerfile -t sidecar:0.1.0 .
# test/deploy/images.test.ts holds this file against the code, the Makefile and the manifests.

# Node 24 LTS on Debian 12 (bookworm), slim variant, pinned to an exact release.
FROM docker.io/library/node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Every dependency exactly as locked, the bundler (a devDependency) included, with no install
# scripts: esbuild's binary comes in its platform package (@esbuild/linux-x64), which needs none.
# Exec form needs no shell in the image, only npm and /usr/bin/env, as every node image has.
RUN ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
COPY src/ ./src/
COPY runtimes/ ./runtimes/
COPY scripts/build.ts scripts/compile-cache.ts ./scripts/
RUN ["node", "scripts/build.ts"]
# V8's compiled code for the bundle, made here so the sidecar does not compile it at every start
# (20-30 ms of ~270 on a slow VM: bench/README.md, "Start-up as deployed"). Node keys the cache by
# user id and the bundle's path: made as the final image's user, for /app/dist/sidecar.mjs.
RUN ["node", "scripts/compile-cache.ts", "/app/compile-cache", "1000:1000"]

FROM docker.io/library/node:24.21.0-bookworm-slim
WORKDIR /app
# The bundle; no package.json is needed (.mjs is an ES module by its name) and no node_modules.
COPY --from=build /app/dist/sidecar.mjs ./dist/
# Its compile cache, read-only (root's, as the bundle is); NODE_COMPILE_CACHE is how Node 24 is
# told to use one (no command-line flag does it). A cache that does not match (another Node,
# another user) is ignored and the bundle compiled as without one.
COPY --from=build /app/compile-cache/ ./compile-cache/
ENV NODE_COMPILE_CACHE=/app/compile-cache
# The base image's `node` user, by number: the kubelet can check a number against runAsNonRoot,
# not a name. The file above stays root's: the process cannot change its own code.
USER 1000:1000
EXPOSE 8000 9901
# Chosen by measurement in the pod's 256 MiB memory limit (bench/README.md, issue 14; bench/ab.ts):
# - --max-semi-space-size=8 (MiB): under that limit V8 sizes its young generation from it, to
#   2 MiB, and scavenges so often that a request costs ~1.8x the CPU. 8 costs 3-16% more CPU per
#   request than unconstrained and kept peak RSS in those A/B runs at 110-123 MiB; 16 cost
#   nothing measurable but peaked at 123-138 MiB. (The memory request in deploy/k8s follows the
#   full benchmark's as-deployed figure instead: deploy/README.md, "Resources and security".)
# - MALLOC_ARENA_MAX=2: glibc otherwise gives each thread that allocates (libuv's pool writes the
#   access log) an arena of its own; 2 cut peak RSS by 6-20 MiB at no measurable cost.
ENV MALLOC_ARENA_MAX=2
# Node itself is PID 1 (no shell, no docker-entrypoint.sh in between), so SIGTERM reaches the
# sidecar's handler and it drains before exiting.
ENTRYPOINT ["node"]
CMD ["--max-semi-space-size=8", "dist/sidecar.mjs"]
