#!/usr/bin/env bash
# Regenerates Go, gRPC, grpc-gateway and OpenAPI code from proto/, then the
# API client from the published OpenAPI document:
#   1. buf: Go, gRPC, grpc-gateway, and proto/openapi/printfleet.swagger.json;
#   2. services/gateway/cmd/openapi completes that document with the protos'
#      validation rules and the 201 + Location answers, and renders the one the
#      gateway publishes (/openapi.json);
#   3. openapi2to3 (kin-openapi) converts the published document to OpenAPI
#      3.0 and oapi-codegen generates the Go client from it, into
#      tests/e2e/apiclient.
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

for tool in buf protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2 openapi2to3 oapi-codegen; do
	if [ ! -x "bin/$tool" ]; then
		echo "generate.sh: bin/$tool not built: run 'make tools' (or 'make generate')" >&2
		exit 1
	fi
done

# openapi DEST: steps 2 and 3 on what buf wrote under DEST.
openapi() {
	local dest=$1 client=$1/tests/e2e/apiclient published
	published=$(mktemp)
	mkdir -p "$client"
	go run ./services/gateway/cmd/openapi -doc "$dest/proto/openapi/printfleet.swagger.json" -published "$published"
	bin/openapi2to3 -in "$published" -out "$client/openapi3.json"
	rm -f "$published"
	bin/oapi-codegen -generate types,client -package apiclient -o "$client/apiclient.gen.go" "$client/openapi3.json"
}

if [ -n "$out" ]; then
	bin/buf generate --output "$out"
	openapi "$out"
	exit 0
fi
# Only what buf writes: hand-written Go lives beside the generated code
# (proto/printfleet/events/v1/routing.go).
rm -f proto/openapi/*.json tests/e2e/apiclient/*.gen.go tests/e2e/apiclient/openapi3.json
find proto/printfleet \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -delete
bin/buf generate
bin/buf format -w proto
openapi .
