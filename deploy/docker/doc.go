// Package docker holds the container build — one image per service holding
// all of that service's binaries in /usr/local/bin: one Dockerfile for the
// static services, Dockerfile.images for the cgo/libvips images worker, and
// build.sh — and tests that check the Dockerfiles' structure with BuildKit's
// own parser and that build.sh puts every binary in its service's image.
package docker
