#!/usr/bin/env bash
# Wait until a TCP port accepts connections.
#
#   scripts/wait-port.sh HOST PORT [TIMEOUT_SECONDS]   (default timeout: 30)
#
# Exits 0 as soon as HOST:PORT accepts a connection, 1 after the timeout.
# With TIMEOUT_SECONDS 0 it checks once.
set -euo pipefail

usage() {
	echo "usage: $(basename "$0") HOST PORT [TIMEOUT_SECONDS]" >&2
	exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
host=$1
port=$2
timeout_s=${3:-30}
[[ $port =~ ^[0-9]+$ ]] || usage
[[ $timeout_s =~ ^[0-9]+$ ]] || usage

# One connection attempt, bounded to a second.
answers() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# Microseconds since the epoch (bash 5).
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

deadline=$(($(now_us) + timeout_s * 1000000))
until answers; do
	if (($(now_us) >= deadline)); then
		echo "wait-port: $host:$port did not answer within ${timeout_s}s" >&2
		exit 1
	fi
	sleep 0.2
done
