#!/usr/bin/env bash
# Builds every printfleet container image from the repository root with
# `docker build` (BuildKit): one image per service, holding all of that
# service's binaries in /usr/local/bin. One Dockerfile serves every static
# service; the images worker (cgo + libvips) uses Dockerfile.images.
#
#   deploy/docker/build.sh                     # all images, tag from git
#   REGISTRY=registry.example.com/printfleet TAG=v1.2.3 PUSH=1 deploy/docker/build.sh
#   deploy/docker/build.sh gateway orders      # only these
#   DRY_RUN=1 deploy/docker/build.sh           # print the commands
#
# The image names match the Helm chart's defaults: $REGISTRY/<service>:$TAG;
# each Deployment or Job picks its binary with `command: [/usr/local/bin/<binary>]`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

REGISTRY=${REGISTRY:-ghcr.io/printfleet}
TAG=${TAG:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
PLATFORM=${PLATFORM:-}
PUSH=${PUSH:-0}
DRY_RUN=${DRY_RUN:-0}

# image (service)  Dockerfile (under deploy/docker)  main packages, one binary each
IMAGES=(
	"gateway      Dockerfile         services/gateway/cmd/gateway"
	"orders       Dockerfile         services/orders/cmd/orders services/orders/cmd/orders-worker"
	"catalog      Dockerfile         services/catalog/cmd/catalog services/catalog/cmd/catalog-worker
	                                 services/catalog/cmd/catalog-seed-demo services/catalog/cmd/catalog-rebuild-projections"
	"pricing      Dockerfile         services/pricing/cmd/pricing services/pricing/cmd/pricing-worker
	                                 services/pricing/cmd/pricing-seed-demo services/pricing/cmd/pricing-coupons"
	"images       Dockerfile.images  workers/images/cmd/images"
	"marketplace  Dockerfile         workers/marketplace/cmd/marketplace"
	"webhooks     Dockerfile         services/webhooks/cmd/webhooks"
	"ops          Dockerfile         services/ops/cmd/ops"
	"sandbox      Dockerfile         sandbox/cmd/sandbox"
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

NAMES=()
for row in "${IMAGES[@]}"; do
	read -r n _ <<<"$row"
	NAMES+=("$n")
done
ONLY=("$@")
for name in "${ONLY[@]}"; do
	found=0
	for n in "${NAMES[@]}"; do [[ $n == "$name" ]] && found=1; done
	if ((found == 0)); then
		# orders-worker, catalog-worker, … live in their service's image.
		echo "build.sh: unknown image $name (images: ${NAMES[*]})" >&2
		exit 2
	fi
done

if [[ $DRY_RUN != 1 ]] && ! docker info >/dev/null 2>&1; then
	echo "build.sh: no Docker engine answers (docker info failed)" >&2
	exit 1
fi

for row in "${IMAGES[@]}"; do
	# Rows may wrap: split on any whitespace, newlines included.
	read -r -d '' -a cols <<<"$row" || true
	name=${cols[0]} dockerfile=${cols[1]} pkgs="${cols[*]:2}"
	want "$name" || continue
	image="$REGISTRY/$name:$TAG"
	args=(docker build --file "deploy/docker/$dockerfile"
		--build-arg "PACKAGES=$pkgs" --build-arg "VERSION=$TAG" --tag "$image")
	[[ -n $PLATFORM ]] && args+=(--platform "$PLATFORM")
	args+=(.)
	echo "==> $image ($pkgs)" >&2
	DOCKER_BUILDKIT=1 run "${args[@]}"
	if [[ $PUSH == 1 ]]; then
		run docker push "$image"
	fi
done
