#!/usr/bin/env bash
# Regenerates Go, gRPC, grpc-gateway and OpenAPI code from proto/.
# Third-party .proto files are taken from the Go module cache into build/third_party
# (ignored by git), never committed.
#   generate.sh               fetch third-party protos, then generate into proto/
#   generate.sh --check-only  only fetch third-party protos (for lint/breaking)
#   generate.sh --out DIR     generate into DIR instead (freshness test)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

out=""
check_only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--check-only) check_only=1 ;;
	--out) out="$2"; shift ;;
	*) echo "usage: generate.sh [--check-only] [--out DIR]" >&2; exit 2 ;;
	esac
	shift
done

tp=build/third_party
moddir() { (cd tools/protoc && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); }
gw=$(moddir github.com/grpc-ecosystem/grpc-gateway@v1.16.0)
pv=$(moddir github.com/bufbuild/protovalidate@v1.2.2)
rm -rf "$tp"/google "$tp"/buf
mkdir -p "$tp"/google/api "$tp"/buf/validate
cp "$gw"/third_party/googleapis/google/api/{annotations,http}.proto "$tp"/google/api/
cp "$pv"/proto/protovalidate/buf/validate/validate.proto "$tp"/buf/validate/
chmod -R u+w "$tp"
[ -n "$check_only" ] && exit 0

for tool in buf protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2; do
	if [ ! -x "bin/$tool" ]; then
		echo "generate.sh: bin/$tool not built: run 'make tools' (or 'make generate')" >&2
		exit 1
	fi
done

if [ -n "$out" ]; then
	bin/buf generate --output "$out"
	exit 0
fi
# Only what buf writes: hand-written Go lives beside the generated code
# (proto/printfleet/events/v1/routing.go).
rm -f proto/openapi/*.json
find proto/printfleet \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -delete
bin/buf generate
bin/buf format -w proto
