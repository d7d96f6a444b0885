// Package docker holds the container build for every printfleet binary — one
// parameterised Dockerfile for the static binaries, Dockerfile.images for the
// cgo/libvips images worker, and build.sh — and tests that check the
// Dockerfiles' structure with BuildKit's own parser.
package docker
