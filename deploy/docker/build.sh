#!/usr/bin/env bash
# Builds every printfleet container image from the repository root with
# `docker build` (BuildKit). One Dockerfile pattern serves every static binary;
# the images worker (cgo + libvips) uses Dockerfile.images.
#
#   deploy/docker/build.sh                     # all images, tag from git
#   REGISTRY=registry.example.com/printfleet TAG=v1.2.3 PUSH=1 deploy/docker/build.sh
#   deploy/docker/build.sh gateway orders      # only these
#   DRY_RUN=1 deploy/docker/build.sh           # print the commands
#
# The image names match the Helm chart's defaults: $REGISTRY/<name>:$TAG.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

REGISTRY=${REGISTRY:-ghcr.io/printfleet}
TAG=${TAG:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
PLATFORM=${PLATFORM:-}
PUSH=${PUSH:-0}
DRY_RUN=${DRY_RUN:-0}

# name  main package  Dockerfile (under deploy/docker)
IMAGES=(
	"gateway        services/gateway/cmd/gateway          Dockerfile"
	"orders         services/orders/cmd/orders            Dockerfile"
	"orders-worker  services/orders/cmd/orders-worker     Dockerfile"
	"catalog        services/catalog/cmd/catalog          Dockerfile"
	"pricing        services/pricing/cmd/pricing          Dockerfile"
	"images         workers/images/cmd/images             Dockerfile.images"
	"marketplace    workers/marketplace/cmd/marketplace   Dockerfile"
	"sandbox        sandbox/cmd/sandbox                   Dockerfile"
)

run() {
	if [[ $DRY_RUN == 1 ]]; then
		printf '%q ' "$@"
		echo
	else
		"$@"
	fi
}

# want reports whether image $1 is selected (no arguments: every image).
want() {
	((${#ONLY[@]} == 0)) && return 0
	local w
	for w in "${ONLY[@]}"; do [[ $w == "$1" ]] && return 0; done
	return 1
}

ONLY=("$@")
for name in "${ONLY[@]}"; do
	found=0
	for row in "${IMAGES[@]}"; do
		read -r n _ _ <<<"$row"
		[[ $n == "$name" ]] && found=1
	done
	if ((found == 0)); then
		echo "build.sh: unknown image $name" >&2
		exit 2
	fi
done

if [[ $DRY_RUN != 1 ]] && ! docker info >/dev/null 2>&1; then
	echo "build.sh: no Docker engine answers (docker info failed)" >&2
	exit 1
fi

for row in "${IMAGES[@]}"; do
	read -r name pkg dockerfile <<<"$row"
	want "$name" || continue
	image="$REGISTRY/$name:$TAG"
	args=(docker build --file "deploy/docker/$dockerfile"
		--build-arg "PACKAGE=$pkg" --build-arg "VERSION=$TAG" --tag "$image")
	[[ -n $PLATFORM ]] && args+=(--platform "$PLATFORM")
	args+=(.)
	echo "==> $image ($pkg)" >&2
	DOCKER_BUILDKIT=1 run "${args[@]}"
	if [[ $PUSH == 1 ]]; then
		run docker push "$image"
	fi
done
