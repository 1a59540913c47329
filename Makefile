# Images and Kubernetes manifests for the sidecar and the demo legacy app: see deploy/README.md.
# test/deploy/images.test.ts runs `make -n` on these targets and holds the result against the
# Dockerfiles and the manifests.

# docker, or e.g. CONTAINER_ENGINE=podman
CONTAINER_ENGINE ?= docker
# Extra flags for `build`, e.g. BUILD_FLAGS=--pull=never (the pod test) or --platform=linux/amd64
BUILD_FLAGS ?=
# The tag the manifests in deploy/k8s use (and their app.kubernetes.io/version label).
TAG ?= 0.1.0
SIDECAR_IMAGE ?= sidecar:$(TAG)
LEGACY_IMAGE ?= legacy-app:$(TAG)
# The sidecar on Bun (deploy/bun.Dockerfile), which deploy/k8s/overlays/bun runs.
BUN_IMAGE ?= sidecar-bun:$(TAG)
KUBECTL ?= kubectl

.PHONY: help build-images build-bun-image deploy deploy-native-sidecar deploy-tls deploy-bun undeploy pod-test

# Lists these targets with the comment above each (the default: plain `make`).
help:
	@awk '/^# /{c=c (c?" ":"") substr($$0,3); next} /^[a-z-]+:/{n=$$1; sub(/:.*/,"",n); if(c!="") printf "  make %-22s %s\n", n, c} {c=""}' $(firstword $(MAKEFILE_LIST))

# Builds the sidecar and demo app images (CONTAINER_ENGINE=podman for podman).
build-images:
	$(CONTAINER_ENGINE) build $(BUILD_FLAGS) -f deploy/sidecar.Dockerfile -t $(SIDECAR_IMAGE) .
	$(CONTAINER_ENGINE) build $(BUILD_FLAGS) -f deploy/legacy.Dockerfile -t $(LEGACY_IMAGE) .

# Builds the sidecar's Bun image, for deploy-bun (CONTAINER_ENGINE=podman for podman).
build-bun-image:
	$(CONTAINER_ENGINE) build $(BUILD_FLAGS) -f deploy/bun.Dockerfile -t $(BUN_IMAGE) .

# The sidecar as an ordinary container (Kubernetes 1.30+).
deploy:
	$(KUBECTL) apply -k deploy/k8s

# The sidecar as a native sidecar container (initContainers, restartPolicy: Always).
deploy-native-sidecar:
	$(KUBECTL) apply -k deploy/k8s/overlays/native-sidecar

# The sidecar terminating TLS with the legacy-app-tls Secret (deploy/README.md, "TLS").
deploy-tls:
	$(KUBECTL) apply -k deploy/k8s/overlays/tls

# The sidecar on Bun instead of Node (build-bun-image; deploy/README.md, "The Bun image").
deploy-bun:
	$(KUBECTL) apply -k deploy/k8s/overlays/bun

# Removes what `make deploy` applied.
undeploy:
	$(KUBECTL) delete -k deploy/k8s

# Builds the images (build-images, build-bun-image) with podman and runs the manifests with `podman kube play` (needs root).
pod-test:
	npm run test:pod
