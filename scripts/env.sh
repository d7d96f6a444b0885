# shellcheck shell=sh
# printfleet local environment: source it, don't run it.
#
#   . scripts/env.sh
#
# Exports the local defaults every script, Makefile recipe and test relies on.
# Each variable keeps a value that is already set, so any of them can be
# overridden from the environment. Written for POSIX sh as well as bash (make
# recipes run /bin/sh); it changes no shell options and can be sourced twice.

# Repository root: from this file's location under bash, else from the
# working directory (make runs recipes at the root), else from git.
if [ -z "${PRINTFLEET_ROOT:-}" ]; then
	# shellcheck disable=SC3028,SC3054,SC2128 # BASH_SOURCE is read only when the shell sets it
	if [ -n "${BASH_SOURCE:-}" ] && [ -f "${BASH_SOURCE}" ]; then
		# shellcheck disable=SC3028,SC3054,SC2128
		PRINTFLEET_ROOT=$(cd "$(dirname "${BASH_SOURCE}")/.." && pwd -P)
	elif [ -f "$PWD/scripts/env.sh" ]; then
		PRINTFLEET_ROOT=$PWD
	else
		PRINTFLEET_ROOT=$(git rev-parse --show-toplevel 2>/dev/null || pwd -P)
	fi
fi
export PRINTFLEET_ROOT

# Project-local tool binaries and run state (logs, pid files, S3 data).
: "${PRINTFLEET_BIN:=$PRINTFLEET_ROOT/bin}"
: "${PRINTFLEET_STATE:=$PRINTFLEET_ROOT/.run}"
export PRINTFLEET_BIN PRINTFLEET_STATE

# PostgreSQL: one database per service (orders, catalog, pricing, webhooks, ops); trust auth
# on loopback in development.
: "${PRINTFLEET_PG_HOST:=127.0.0.1}"
: "${PRINTFLEET_PG_PORT:=5432}"
: "${PRINTFLEET_PG_USER:=postgres}"
export PRINTFLEET_PG_HOST PRINTFLEET_PG_PORT PRINTFLEET_PG_USER

# A streaming replica of that cluster (scripts/infra.sh starts it locally)
# for the tests of reads that go to a replica; the URL names the postgres
# database, tests swap in their own.
: "${PRINTFLEET_PG_REPLICA_PORT:=5433}"
: "${PRINTFLEET_PG_REPLICA_URL:=postgres://$PRINTFLEET_PG_USER@$PRINTFLEET_PG_HOST:$PRINTFLEET_PG_REPLICA_PORT/postgres?sslmode=disable}"
export PRINTFLEET_PG_REPLICA_PORT PRINTFLEET_PG_REPLICA_URL

# Redis.
: "${PRINTFLEET_REDIS_ADDR:=127.0.0.1:6379}"
export PRINTFLEET_REDIS_ADDR

# RabbitMQ: the fleet uses its own vhost. This URL (guest) is the one for
# tools and a binary started by hand; the fleet (`make run`, the end-to-end
# suite) gives each process its own user instead, as provisioned by
# scripts/infra.sh: amqp://printfleet-<process>:dev-amqp-<process>-change-me@…
# (tests/e2e/fleet/broker.go), allowed to publish only its own events.
: "${PRINTFLEET_AMQP_URL:=amqp://guest:guest@127.0.0.1:5672/printfleet}"
export PRINTFLEET_AMQP_URL

# S3-compatible object store (versitygw locally). The secret is a development
# value only; real deployments set their own.
: "${PRINTFLEET_S3_ENDPOINT:=http://127.0.0.1:7070}"
: "${PRINTFLEET_S3_ACCESS_KEY:=printfleet}"
: "${PRINTFLEET_S3_SECRET_KEY:=printfleet-dev-secret}"
: "${PRINTFLEET_S3_REGION:=us-east-1}"
: "${PRINTFLEET_S3_BUCKET_DESIGNS:=printfleet-designs}"
: "${PRINTFLEET_S3_BUCKET_RENDERS:=printfleet-renders}"
: "${PRINTFLEET_S3_BUCKET_RECEIPTS:=printfleet-receipts}"
export PRINTFLEET_S3_ENDPOINT PRINTFLEET_S3_ACCESS_KEY PRINTFLEET_S3_SECRET_KEY \
	PRINTFLEET_S3_REGION PRINTFLEET_S3_BUCKET_DESIGNS PRINTFLEET_S3_BUCKET_RENDERS \
	PRINTFLEET_S3_BUCKET_RECEIPTS

# Project tools first on PATH; Go's default install location last, for
# non-login shells that never read a profile.
case ":$PATH:" in
*":$PRINTFLEET_BIN:"*) ;;
*) PATH="$PRINTFLEET_BIN:$PATH" ;;
esac
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="$PATH:/usr/local/go/bin"
fi
export PATH

# Development-only secrets shared by `make run`, `make token` and the fleet.
# Real deployments set their own (Kubernetes Secrets).
: "${PRINTFLEET_JWT_SECRET:=dev-jwt-secret-change-me-0123456789}"
: "${PRINTFLEET_INTERNAL_SECRET:=dev-internal-secret-change-me-0123456789}"
export PRINTFLEET_JWT_SECRET PRINTFLEET_INTERNAL_SECRET
