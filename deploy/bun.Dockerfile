# The sidecar on Bun (runtimes/bun.ts, on Bun's node:http server as on Node): Bun's binary and one
# bundled file, dist/sidecar-bun.mjs (runtimes/bun.ts and everything it imports, packages included,
# built by scripts/build-bun.ts with `bun build --target=bun`), and no node_modules. Bundled
# rather than the sources plus the packages they import: one 0.5 MB file instead of src/,
# runtimes/ and seven packages' folders, which Bun would otherwise transpile and resolve at every
# start. deploy/k8s/overlays/bun selects this image. Build from the repository root:
# `make build-bun-image`, or
#   docker build -f deploy/bun.Dockerfile -t sidecar-bun:0.1.0 .
# test/deploy/images.test.ts holds this file against the code, the Makefile and the manifests.

# The build stage starts exactly as deploy/sidecar.Dockerfile's (same base, same files, same
# install), so a builder that built that image reuses its layers up to the sources.
FROM docker.io/library/node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Every dependency exactly as locked, with no install scripts: Bun (a devDependency) comes as the
# npm package `bun` and its platform package (@oven/bun-linux-x64 or -aarch64), which holds the
# binary; scripts/build-bun.ts takes it from there and checks it is the locked release.
RUN ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
COPY src/ ./src/
COPY runtimes/ ./runtimes/
COPY scripts/build.ts scripts/build-bun.ts ./scripts/
RUN ["node", "scripts/build-bun.ts"]

# Debian 12 (bookworm), slim, pinned to an exact point release: the same Debian as the Node image,
# without Node. Bun's binary needs only glibc (libc, libm, libpthread, libdl).
FROM docker.io/library/debian:12.15-slim
WORKDIR /app
# The binary and the one file, root's: the process cannot change its own code. No package.json
# is needed (.mjs is an ES module by its name) and no node_modules.
COPY --from=build /app/dist/bun /usr/local/bin/bun
COPY --from=build /app/dist/bun.NOTICE /usr/local/share/doc/bun/NOTICE
COPY --from=build /app/dist/sidecar-bun.mjs ./dist/
# A number, not a name: the kubelet can check a number against runAsNonRoot, and Debian's image
# has no user 1000 (Bun needs no passwd entry or home directory).
USER 1000:1000
EXPOSE 8000 9901
# Bun itself is PID 1 (no shell in between), so SIGTERM reaches the sidecar's handler and it
# drains before exiting.
ENTRYPOINT ["bun"]
CMD ["dist/sidecar-bun.mjs"]
