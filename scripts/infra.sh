#!/usr/bin/env bash
# printfleet local infrastructure: PostgreSQL, Redis, RabbitMQ, an S3-compatible
# store (versitygw) and the pinned Go tools.
#
#   scripts/infra.sh up         install + start + provision + s3: what `make run`
#                               and `make test` need at run time, nothing more
#   scripts/infra.sh install    apt-get the Debian packages that are missing
#   scripts/infra.sh start      start PostgreSQL, Redis, RabbitMQ if not answering
#   scripts/infra.sh provision  RabbitMQ vhost + permissions; PostgreSQL databases,
#                               loopback replication access, max_connections,
#                               and a local streaming replica (pg_basebackup of
#                               the local cluster, $PRINTFLEET_PG_REPLICA_PORT)
#   scripts/infra.sh tools      build the pinned development tools into bin/
#                               (cached): buf, the protoc plugins, the OpenAPI
#                               2->3 converter and oapi-codegen, staticcheck;
#                               only `make generate` and `make lint` need them
#   scripts/infra.sh s3         start versitygw if its port does not answer,
#                               building it into bin/ first (cached)
#   scripts/infra.sh stop-s3    stop the versitygw started by `s3`
#   scripts/infra.sh stop-replica  stop the local PostgreSQL replica (`provision`
#                               or `up` starts it again)
#   scripts/infra.sh status     one line per component
#
# Every step checks first and acts only when needed, so a repeated `up` is
# quick. `up` builds no development tool: buf alone takes minutes to build
# cold, and neither the fleet nor the tests run it (the generated-code
# freshness test skips without bin/buf, and fails in CI, where `make lint`
# builds the tools first). Settings come from scripts/env.sh (all
# overridable by environment).
# Output of the commands it runs goes to $PRINTFLEET_STATE/logs; on failure
# the tail of the relevant log is printed. A server configured on another host
# is only checked (and gets missing databases), never started or reconfigured.
#
# Tunables: PRINTFLEET_PG_DATABASES ("orders catalog pricing webhooks ops"),
# PRINTFLEET_PG_MAX_CONNECTIONS (300), PRINTFLEET_PG_CLUSTER (main),
# PRINTFLEET_PG_REPLICA_PORT (5433, from scripts/env.sh),
# PRINTFLEET_VERSITYGW_VERSION (v1.8.0), PRINTFLEET_WAIT_TIMEOUT (60 s).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/env.sh
. "$here/env.sh"

# Pinned versions and tunables (overridable by environment).
versitygw_version=${PRINTFLEET_VERSITYGW_VERSION:-v1.8.0}
versitygw_pkg=github.com/versity/versitygw/cmd/versitygw
pg_databases=${PRINTFLEET_PG_DATABASES:-orders catalog pricing webhooks ops}
pg_cluster=${PRINTFLEET_PG_CLUSTER:-main} # Debian cluster name (pg_lsclusters)
pg_min_connections=${PRINTFLEET_PG_MAX_CONNECTIONS:-300}
wait_timeout=${PRINTFLEET_WAIT_TIMEOUT:-60}
# Servers; libvips for the images worker (cgo); promtool (prometheus) and
# chromium for tests; wrk for make bench; jq for the README's first order.
apt_packages=(
	postgresql redis-server rabbitmq-server
	libvips-dev libvips-tools pkg-config
	prometheus wrk chromium jq
)

logs=$PRINTFLEET_STATE/logs
pids=$PRINTFLEET_STATE/pids
pg_replica_dir=$PRINTFLEET_STATE/pg-replica
pg_replica_slot=printfleet_replica
s3_data=$PRINTFLEET_STATE/s3

# ---------------------------------------------------------------- helpers

say() { printf 'infra: %s\n' "$*" >&2; }
die() {
	printf 'infra: error: %s\n' "$*" >&2
	exit 1
}

# Run as root (directly, or through sudo when not root).
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n -- "$@"
	else
		die "needs root (or sudo) to run: $*"
	fi
}

# run_logged NAME CMD...: run CMD with its output appended to logs/NAME.log;
# on failure print the log's tail and exit.
run_logged() {
	local name=$1 log rc=0
	shift
	log=$logs/$name.log
	mkdir -p "$logs"
	printf '\n== %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$log"
	"$@" >>"$log" 2>&1 </dev/null || rc=$?
	if ((rc != 0)); then
		say "error: '$*' exited $rc; last lines of $log:"
		tail -n 30 "$log" >&2
		exit 1
	fi
}

# tcp_open HOST PORT: does HOST:PORT accept a connection (within a second)?
tcp_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

is_local() {
	case $1 in
	127.* | localhost | ::1 | '[::1]') return 0 ;;
	*) return 1 ;;
	esac
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found: run 'scripts/infra.sh install' first"
}

# wait_until CMD...: poll CMD until it succeeds, at most $wait_timeout s.
wait_until() {
	local deadline=$((SECONDS + wait_timeout))
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.25
	done
}

# Serialise concurrent runs (make run and make test at once, say): re-run
# this script under flock(1). flock -o holds the lock in flock itself, not in
# the script, so the servers started here never inherit (and keep) it.
take_lock() {
	if [[ -n ${PRINTFLEET_INFRA_LOCKED:-} ]]; then
		unset PRINTFLEET_INFRA_LOCKED
		return 0
	fi
	command -v flock >/dev/null 2>&1 || return 0
	mkdir -p "$PRINTFLEET_STATE"
	local lock=$PRINTFLEET_STATE/infra.lock rc=0
	export PRINTFLEET_INFRA_LOCKED=1
	flock -n -o -E 75 "$lock" bash "$here/infra.sh" "$@" || rc=$?
	if ((rc == 75)); then
		say "waiting for another scripts/infra.sh run to finish"
		rc=0
		flock -w 1800 -o -E 75 "$lock" bash "$here/infra.sh" "$@" || rc=$?
		((rc != 75)) || die "gave up waiting for $lock"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------- settings

# Redis host and port from PRINTFLEET_REDIS_ADDR.
redis_host=${PRINTFLEET_REDIS_ADDR%:*}
redis_port=${PRINTFLEET_REDIS_ADDR##*:}

# RabbitMQ user, password, host, port and vhost from PRINTFLEET_AMQP_URL.
parse_amqp_url() {
	local rest userinfo hostport path
	rest=${PRINTFLEET_AMQP_URL#*://}
	rest=${rest%%\?*}
	userinfo=guest:guest
	if [[ $rest == *@* ]]; then
		userinfo=${rest%%@*}
		rest=${rest#*@}
	fi
	hostport=${rest%%/*}
	path=
	[[ $rest == */* ]] && path=${rest#*/}
	amqp_user=${userinfo%%:*}
	amqp_pass=${userinfo#*:}
	amqp_host=${hostport%:*}
	amqp_port=5672
	[[ $hostport == *:* ]] && amqp_port=${hostport##*:}
	path=${path//%2[Ff]//}
	amqp_vhost=${path:-/}
}
parse_amqp_url

# S3 listen address from PRINTFLEET_S3_ENDPOINT.
s3_hostport=${PRINTFLEET_S3_ENDPOINT#*://}
s3_hostport=${s3_hostport%%/*}
s3_host=${s3_hostport%:*}
s3_port=${s3_hostport##*:}

# ---------------------------------------------------------------- install

cmd_install() {
	command -v dpkg-query >/dev/null 2>&1 ||
		die "install supports Debian only; install these yourself: ${apt_packages[*]}"
	local status pkg missing=()
	# shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
	status=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${apt_packages[@]}" 2>/dev/null || true)
	for pkg in "${apt_packages[@]}"; do
		grep -qxF "$pkg installed" <<<"$status" || missing+=("$pkg")
	done
	((${#missing[@]} > 0)) || return 0

	say "installing ${missing[*]} (apt-get; log: $logs/apt.log)"
	run_logged apt as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -o DPkg::Lock::Timeout=300 update
	run_logged apt as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- PostgreSQL

pg_version() {
	local d
	for d in /etc/postgresql/*/"$pg_cluster"; do
		[[ -d $d ]] || continue
		d=${d#/etc/postgresql/}
		echo "${d%/*}"
		return 0
	done
	return 1
}

# pg_ready: 0 accepting, 1 starting up (rejecting), 2 no answer.
pg_ready() {
	local rc=0
	pg_isready -q -h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_PORT" -t 2 || rc=$?
	return "$rc"
}

psql_q() {
	PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t -v ON_ERROR_STOP=1 \
		-h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_PORT" -U "$PRINTFLEET_PG_USER" \
		-d postgres -c "$1"
}

pg_ctl() {
	local ver
	ver=$(pg_version) || die "no PostgreSQL cluster $pg_cluster under /etc/postgresql"
	run_logged postgres as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$pg_cluster" "$1"
}

start_postgres() {
	need pg_isready
	local rc=0
	pg_ready || rc=$?
	((rc == 0 || rc == 1)) && return 0
	is_local "$PRINTFLEET_PG_HOST" ||
		die "PostgreSQL at $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT does not answer (not local, so not started here)"
	need pg_ctlcluster
	if ! pg_version >/dev/null; then
		local d ver=
		for d in /usr/lib/postgresql/*/bin/postgres; do
			[[ -x $d ]] && ver=${d#/usr/lib/postgresql/} && ver=${ver%%/*} && break
		done
		[[ -n $ver ]] || die "PostgreSQL server binaries not found: run 'scripts/infra.sh install'"
		say "creating PostgreSQL cluster $ver/$pg_cluster"
		run_logged postgres as_root pg_createcluster --port "$PRINTFLEET_PG_PORT" "$ver" "$pg_cluster"
	fi
	say "starting PostgreSQL $(pg_version)/$pg_cluster"
	pg_ctl start
}

wait_postgres() {
	wait_until pg_ready ||
		die "PostgreSQL at $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT did not accept connections within ${wait_timeout}s (see /var/log/postgresql)"
}

pg_can_connect() { psql_q 'select 1' >/dev/null 2>&1; }

pg_can_replicate() {
	PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t \
		"host=$PRINTFLEET_PG_HOST port=$PRINTFLEET_PG_PORT user=$PRINTFLEET_PG_USER dbname=postgres replication=true" \
		-c IDENTIFY_SYSTEM >/dev/null 2>&1
}

# pg_trust_loopback DBCOLUMN CHECK: put trust lines for the project's user
# over loopback at the top of pg_hba.conf (first match wins), reload, and wait
# until CHECK passes.
pg_trust_loopback() {
	local db=$1 check=$2 ver hba tmp
	ver=$(pg_version) || die "no PostgreSQL cluster $pg_cluster under /etc/postgresql"
	hba=/etc/postgresql/$ver/$pg_cluster/pg_hba.conf
	as_root test -f "$hba" || die "$hba not found"
	say "allowing $PRINTFLEET_PG_USER over loopback without password ($db) in $hba"
	tmp=$(mktemp)
	{
		printf '# printfleet local development: trust loopback (%s)\n' "$db"
		printf 'host %s %s 127.0.0.1/32 trust\n' "$db" "$PRINTFLEET_PG_USER"
		printf 'host %s %s ::1/128 trust\n' "$db" "$PRINTFLEET_PG_USER"
		as_root cat "$hba"
	} >"$tmp"
	as_root tee "$hba" <"$tmp" >/dev/null
	rm -f "$tmp"
	pg_ctl reload
	wait_until "$check"
}

ensure_pg_auth() {
	pg_can_connect && return 0
	local err
	err=$(psql_q 'select 1' 2>&1 >/dev/null || true)
	is_local "$PRINTFLEET_PG_HOST" ||
		die "cannot connect to PostgreSQL at $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT as $PRINTFLEET_PG_USER: $err"
	pg_trust_loopback all pg_can_connect ||
		die "still cannot connect to PostgreSQL as $PRINTFLEET_PG_USER after editing pg_hba.conf: $(psql_q 'select 1' 2>&1 >/dev/null || true)"
}

provision_postgres() {
	local facts existing db cur pending
	# One round trip: "max_connections|db db db".
	facts=$(psql_q "select current_setting('max_connections') || '|' || string_agg(datname, ' ') from pg_database")
	cur=${facts%%|*}
	existing=" ${facts#*|} "
	for db in $pg_databases; do
		[[ $existing == *" $db "* ]] && continue
		say "creating database $db"
		psql_q "create database \"$db\"" >/dev/null
	done

	# Streaming-replica tests take a base backup over loopback.
	if is_local "$PRINTFLEET_PG_HOST" && ! pg_can_replicate; then
		pg_trust_loopback replication pg_can_replicate ||
			say "warning: replication connections as $PRINTFLEET_PG_USER still refused"
	fi

	if ((cur < pg_min_connections)); then
		is_local "$PRINTFLEET_PG_HOST" ||
			die "PostgreSQL max_connections is $cur; the tests need >= $pg_min_connections (raise it on $PRINTFLEET_PG_HOST)"
		# The configured value may already be raised and only wait for a restart.
		pending=$(psql_q "select setting from pg_file_settings where name = 'max_connections' order by seqno desc limit 1")
		if [[ -z $pending ]] || ((pending < pg_min_connections)); then
			psql_q "alter system set max_connections = $pg_min_connections" >/dev/null
		fi
		say "raising PostgreSQL max_connections from $cur to $pg_min_connections (restarting it)"
		pg_ctl restart
		wait_postgres
	fi
}

# ---------------------------------------------------------------- PostgreSQL replica

# as_pg CMD...: run CMD as the PostgreSQL server's system user.
as_pg() {
	if [[ $(id -un) == postgres ]]; then
		"$@"
	elif ((EUID == 0)); then
		runuser -u postgres -- "$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n -u postgres -- "$@"
	else
		die "needs root (or sudo) to run as postgres: $*"
	fi
}

pg_replica_ready() {
	pg_isready -q -h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_REPLICA_PORT" -t 2
}

# pg_replica_streaming: the server on the replica port is in recovery and
# its WAL receiver streams from the primary.
pg_replica_streaming() {
	[[ $(PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t -h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_REPLICA_PORT" \
		-U "$PRINTFLEET_PG_USER" -d postgres \
		-c "select pg_is_in_recovery() and exists (select from pg_stat_wal_receiver where status = 'streaming')" 2>/dev/null) == t ]]
}

# start_pg_replica: a hot standby of the local cluster for the tests of the
# reads that go to a replica: a base backup into $pg_replica_dir (taken
# once), started on $PRINTFLEET_PG_REPLICA_PORT with its own minimal
# configuration (loopback only, trust). A replica that cannot stream any more
# (the primary recycled the WAL it needs while it was down) is taken again.
start_pg_replica() {
	is_local "$PRINTFLEET_PG_HOST" || return 0
	if pg_replica_ready; then
		if pg_replica_streaming; then
			# A test that pauses replay resumes it when it ends; one killed
			# first leaves it paused.
			PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t -h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_REPLICA_PORT" \
				-U "$PRINTFLEET_PG_USER" -d postgres \
				-c "select pg_wal_replay_resume() where pg_is_wal_replay_paused()" >/dev/null
			return 0
		fi
		[[ -f $pg_replica_dir/postmaster.pid ]] ||
			die "port $PRINTFLEET_PG_REPLICA_PORT answers but is not a replica of $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT started from $pg_replica_dir"
	fi
	pg_can_replicate || die "replication connections to $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT are refused: run 'scripts/infra.sh provision'"
	local ver bin
	ver=$(pg_version) || die "no PostgreSQL cluster $pg_cluster under /etc/postgresql"
	bin=/usr/lib/postgresql/$ver/bin
	[[ -x $bin/pg_basebackup ]] || die "$bin/pg_basebackup not found"
	if [[ -f $pg_replica_dir/postmaster.pid ]]; then
		# Running but not streaming, or left over from a crash.
		as_pg "$bin/pg_ctl" -D "$pg_replica_dir" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [[ -f $pg_replica_dir/standby.signal ]]; then
		say "starting the PostgreSQL replica on port $PRINTFLEET_PG_REPLICA_PORT"
		if run_pg_replica "$bin" && wait_until pg_replica_streaming; then
			return 0
		fi
		say "the replica does not stream from the primary; taking a new base backup"
		as_pg "$bin/pg_ctl" -D "$pg_replica_dir" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	# A physical slot keeps the WAL the replica has not received yet (a busy
	# primary recycles it between the backup and the replica's start), up to
	# max_slot_wal_keep_size: a replica left stopped for long loses its slot
	# instead of filling the disk, and is taken again here.
	if [[ $(psql_q "show max_slot_wal_keep_size") == -1 ]]; then
		psql_q "alter system set max_slot_wal_keep_size = '2GB'" >/dev/null
		psql_q "select pg_reload_conf()" >/dev/null
	fi
	psql_q "select pg_drop_replication_slot(slot_name) from pg_replication_slots
		where slot_name = '$pg_replica_slot' and not active" >/dev/null
	say "taking a base backup of $PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT into $pg_replica_dir"
	as_root rm -rf "$pg_replica_dir"
	mkdir -p "$logs"
	as_root install -d -m 0700 -o postgres -g postgres "$pg_replica_dir"
	run_logged pg-replica as_pg "$bin/pg_basebackup" -h "$PRINTFLEET_PG_HOST" -p "$PRINTFLEET_PG_PORT" \
		-U "$PRINTFLEET_PG_USER" -D "$pg_replica_dir" -X stream -R -c fast -w -C -S "$pg_replica_slot"
	# Debian keeps the configuration outside the data directory: give the
	# replica its own (settings from ALTER SYSTEM, such as max_connections,
	# came along in postgresql.auto.conf; -R added the primary's address).
	as_pg tee "$pg_replica_dir/postgresql.conf" >/dev/null <<CONF
listen_addresses = '$PRINTFLEET_PG_HOST'
port = $PRINTFLEET_PG_REPLICA_PORT
unix_socket_directories = '$pg_replica_dir'
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
CONF
	as_pg tee "$pg_replica_dir/pg_hba.conf" >/dev/null <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
	say "starting the PostgreSQL replica on port $PRINTFLEET_PG_REPLICA_PORT"
	run_pg_replica "$bin" || die "the PostgreSQL replica did not start (see $logs/pg-replica.log)"
	wait_until pg_replica_streaming ||
		die "the PostgreSQL replica on port $PRINTFLEET_PG_REPLICA_PORT does not stream from the primary (see $logs/pg-replica.log)"
}

run_pg_replica() {
	# The server's own log is written by the postgres user, so it lives in
	# the data directory; pg_ctl's output goes to logs/pg-replica.log.
	mkdir -p "$logs"
	as_pg "$1/pg_ctl" -D "$pg_replica_dir" -l "$pg_replica_dir/server.log" -w -t "$wait_timeout" start >>"$logs/pg-replica.log" 2>&1
}

stop_pg_replica() {
	[[ -f $pg_replica_dir/postmaster.pid ]] || return 0
	local ver
	ver=$(pg_version) || return 0
	say "stopping the PostgreSQL replica"
	as_pg "/usr/lib/postgresql/$ver/bin/pg_ctl" -D "$pg_replica_dir" -m fast -w stop >/dev/null
}

# ---------------------------------------------------------------- Redis

redis_ok() {
	[[ $(timeout 3 redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null) == PONG ]]
}

start_redis() {
	need redis-cli
	redis_ok && return 0
	is_local "$redis_host" ||
		die "Redis at $PRINTFLEET_REDIS_ADDR does not answer (not local, so not started here)"
	need redis-server
	mkdir -p "$logs"
	say "starting Redis on 127.0.0.1:$redis_port"
	run_logged redis redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
		--save '' --appendonly no --dir "$PRINTFLEET_STATE" --logfile "$logs/redis-server.log"
}

wait_redis() {
	wait_until redis_ok ||
		die "Redis at $PRINTFLEET_REDIS_ADDR did not answer PING within ${wait_timeout}s (see $logs/redis-server.log)"
}

# ---------------------------------------------------------------- RabbitMQ

rabbit_ok() { tcp_open "$amqp_host" "$amqp_port"; }

start_rabbitmq() {
	rabbit_ok && return 0
	is_local "$amqp_host" ||
		die "RabbitMQ at $amqp_host:$amqp_port does not answer (not local, so not started here)"
	need rabbitmq-server
	# A node that is up but still booting only needs waiting for.
	as_root rabbitmq-diagnostics -q ping -t 5 >/dev/null 2>&1 && return 0
	say "starting RabbitMQ"
	run_logged rabbitmq as_root rabbitmq-server -detached
}

wait_rabbitmq() {
	wait_until rabbit_ok ||
		die "RabbitMQ at $amqp_host:$amqp_port did not accept connections within ${wait_timeout}s (see /var/log/rabbitmq and $logs/rabbitmq.log)"
}

# Each process's own RabbitMQ user: process, the routing-key prefix it
# publishes and the queue-name prefix it declares and consumes ("-": none).
# The user is printfleet-<process> with the development password
# dev-amqp-<process>-change-me; tests/e2e/fleet/broker.go and the chart's
# brokerPermissions grant the same permissions. A consumer dead-letters a
# failed message by publishing it, with its error, to printfleet.dlx: the
# write on the DLX every user holds covers that. The ops user (set apart
# below) parks every .dlq and replays through the default exchange.
broker_users=(
	"orders orders. -"
	"orders-worker orders. orders."
	"catalog catalog. -"
	"catalog-worker catalog. catalog."
	"pricing-worker - pricing."
	"images images. images."
	"marketplace marketplace. marketplace."
	"webhooks - webhooks."
)

# Creates (or resets the password of) each process's user and sets its
# permissions on the vhost and its topic permission on the events exchange,
# so that publishing another process's event is refused by the broker.
provision_broker_users() {
	local row proc pub queues user pass q exchanges='^(printfleet\.events|printfleet\.dlx)$' write topic
	for row in "${broker_users[@]}"; do
		read -r proc pub queues <<<"$row"
		user=printfleet-$proc pass=dev-amqp-$proc-change-me
		q='^$'
		[[ $queues != - ]] && q="^${queues//./\\.}.*\$"
		write="^printfleet\\.dlx\$|$q" topic='^$'
		if [[ $pub != - ]]; then
			write="$exchanges|$q" topic="^${pub//./\\.}.*\$"
		fi
		if as_root rabbitmqctl -q list_users 2>/dev/null | cut -f1 | grep -qxF "$user"; then
			run_logged rabbitmq as_root rabbitmqctl -q change_password "$user" "$pass"
		else
			say "creating RabbitMQ user $user"
			run_logged rabbitmq as_root rabbitmqctl -q add_user "$user" "$pass"
		fi
		run_logged rabbitmq as_root rabbitmqctl -q set_permissions -p "$amqp_vhost" "$user" "$exchanges|$q" "$write" "$exchanges|$q"
		run_logged rabbitmq as_root rabbitmqctl -q set_topic_permissions -p "$amqp_vhost" "$user" printfleet.events "$topic" '.*'
	done
	# ops: declares and consumes every <queue>.dlq, passive-declares the
	# consumer queues (no permission needed), and writes only to the default
	# exchange (a replay goes straight to one consumer queue), never to the
	# events exchange.
	user=printfleet-ops pass=dev-amqp-ops-change-me
	if as_root rabbitmqctl -q list_users 2>/dev/null | cut -f1 | grep -qxF "$user"; then
		run_logged rabbitmq as_root rabbitmqctl -q change_password "$user" "$pass"
	else
		say "creating RabbitMQ user $user"
		run_logged rabbitmq as_root rabbitmqctl -q add_user "$user" "$pass"
	fi
	run_logged rabbitmq as_root rabbitmqctl -q set_permissions -p "$amqp_vhost" "$user" "$exchanges|\\.dlq\$" '^amq\.default$' "$exchanges|\\.dlq\$"
	run_logged rabbitmq as_root rabbitmqctl -q set_topic_permissions -p "$amqp_vhost" "$user" printfleet.events '^$' '.*'
}

provision_rabbitmq() {
	if ! is_local "$amqp_host"; then
		return 0 # a remote broker is provisioned by whoever runs it
	fi
	need rabbitmqctl
	# rabbitmqctl boots an Erlang VM (0.5 s idle, seconds on a busy machine):
	# skip it while the broker that was last checked is still the one running.
	local stamp=$PRINTFLEET_STATE/rabbitmq.provisioned instance='' perms row
	instance=$(rabbit_instance) && instance+=" $amqp_user $amqp_vhost users:${#broker_users[@]}+ops"
	if [[ -n $instance && -f $stamp && $(<"$stamp") == "$instance" ]] && rabbit_vhost_on_disk; then
		return 0
	fi
	row=$(printf '%s\t.*\t.*\t.*' "$amqp_user")
	if ! perms=$(as_root rabbitmqctl -q list_permissions -p "$amqp_vhost" 2>/dev/null); then
		say "creating RabbitMQ vhost $amqp_vhost"
		run_logged rabbitmq as_root rabbitmqctl -q add_vhost "$amqp_vhost"
		perms=
	fi
	if ! grep -qxF "$row" <<<"$perms"; then
		if ! as_root rabbitmqctl -q list_users 2>/dev/null | cut -f1 | grep -qxF "$amqp_user"; then
			say "creating RabbitMQ user $amqp_user"
			run_logged rabbitmq as_root rabbitmqctl -q add_user "$amqp_user" "$amqp_pass"
		fi
		say "granting $amqp_user full permissions on vhost $amqp_vhost"
		run_logged rabbitmq as_root rabbitmqctl -q set_permissions -p "$amqp_vhost" "$amqp_user" '.*' '.*' '.*'
	fi
	provision_broker_users
	if [[ -n $instance ]]; then
		mkdir -p "$PRINTFLEET_STATE"
		printf '%s\n' "$instance" >"$stamp"
	fi
}

# Does the local broker's data directory hold the vhost? (Each vhost has a
# directory with a .vhost file naming it; deleting the vhost removes it.)
rabbit_vhost_on_disk() {
	local f
	for f in /var/lib/rabbitmq/mnesia/*/msg_stores/vhosts/*/.vhost; do
		[[ -r $f && $(<"$f") == "$amqp_vhost" ]] && return 0
	done
	return 1
}

# Identity of the running local broker: node pid file, its pid and mtime, and
# the inode of the node's data directory (a reset recreates it). Fails when
# unreadable (not root) or not running, and then provisioning always checks.
rabbit_instance() {
	local f pid
	for f in /var/lib/rabbitmq/mnesia/*.pid; do
		[[ -r $f ]] || continue
		pid=$(<"$f")
		[[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || continue
		printf '%s %s %s %s' "$f" "$pid" "$(stat -c %Y "$f")" "$(stat -c %i "${f%.pid}" 2>/dev/null)"
		return 0
	done
	return 1
}

# ---------------------------------------------------------------- start / provision

cmd_start() {
	start_postgres
	start_redis
	start_rabbitmq
	wait_postgres
	ensure_pg_auth
	wait_redis
	wait_rabbitmq
}

cmd_provision() {
	provision_rabbitmq
	provision_postgres
	start_pg_replica
}

# ---------------------------------------------------------------- tools

go_version=
go_ver() {
	if [[ -z $go_version ]]; then
		need go
		go_version=$(go env GOVERSION)
	fi
	echo "$go_version"
}

# Binary names of the `tool` directives in a go.mod (last path element,
# skipping a major-version suffix, as go install names them).
tool_names() {
	awk '
		/^tool[ \t]*\(/ { block = 1; next }
		block && /^\)/ { block = 0; next }
		block && NF { print $1; next }
		/^tool[ \t]/ { print $2 }
	' "$1" | awk -F/ '{ n = $NF; if (n ~ /^v[0-9]+$/ && NF > 1) n = $(NF - 1); print n }'
}

# build_tool_module NAME: go install the tools of tools/NAME into bin/ unless
# every binary is there and go.mod, go.sum and the Go version are unchanged.
build_tool_module() {
	local name=$1 dir stamp want have='' names bin absent=0
	dir=$PRINTFLEET_ROOT/tools/$name
	stamp=$PRINTFLEET_BIN/.stamp-tools-$name
	[[ -f $dir/go.mod ]] || die "tool module $dir/go.mod not found"
	want="$(cat "$dir/go.mod" "$dir/go.sum" 2>/dev/null | sha256sum | cut -d' ' -f1) $(go_ver)"
	[[ -f $stamp ]] && have=$(<"$stamp")
	names=$(tool_names "$dir/go.mod")
	[[ -n $names ]] || die "$dir/go.mod declares no tools"
	for bin in $names; do
		[[ -x $PRINTFLEET_BIN/$bin ]] || absent=1
	done
	[[ $want == "$have" && $absent == 0 ]] && return 0

	say "building tools/$name ($(echo "$names" | tr '\n' ' ' | sed 's/ $//')) into $PRINTFLEET_BIN"
	mkdir -p "$PRINTFLEET_BIN"
	rm -f "$stamp"
	# GOWORK=off: under the root go.work, `go install tool` installs nothing.
	(cd "$dir" && run_logged "tools-$name" env GOWORK=off GOBIN="$PRINTFLEET_BIN" go install tool)
	for bin in $names; do
		[[ -x $PRINTFLEET_BIN/$bin ]] || die "go install tool in tools/$name did not produce bin/$bin"
	done
	printf '%s\n' "$want" >"$stamp"
}

build_versitygw() {
	local stamp want have=''
	stamp=$PRINTFLEET_BIN/.stamp-versitygw
	want="$versitygw_pkg@$versitygw_version $(go_ver)"
	[[ -f $stamp ]] && have=$(<"$stamp")
	[[ $want == "$have" && -x $PRINTFLEET_BIN/versitygw ]] && return 0

	say "building versitygw $versitygw_version into $PRINTFLEET_BIN (a few minutes the first time)"
	mkdir -p "$PRINTFLEET_BIN"
	rm -f "$stamp"
	(cd / && run_logged versitygw-build \
		env GOWORK=off GOBIN="$PRINTFLEET_BIN" go install "$versitygw_pkg@$versitygw_version")
	[[ -x $PRINTFLEET_BIN/versitygw ]] || die "go install $versitygw_pkg did not produce bin/versitygw"
	printf '%s\n' "$want" >"$stamp"
}

# The development tools, one module each under tools/ (outside go.work):
# buf needs a protobuf version the plugins' module cannot share.
cmd_tools() {
	build_tool_module buf
	build_tool_module protoc
	build_tool_module openapi
	build_tool_module lint
}

# ---------------------------------------------------------------- S3 (versitygw)

s3_ok() { tcp_open "$s3_host" "$s3_port"; }

# PID of the versitygw this script started, if it is still running.
s3_pid() {
	local pid
	[[ -f $pids/versitygw.pid ]] || return 1
	pid=$(<"$pids/versitygw.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == versitygw ]] || return 1
	echo "$pid"
}

cmd_s3() {
	s3_ok && return 0
	is_local "$s3_host" ||
		die "S3 endpoint $PRINTFLEET_S3_ENDPOINT does not answer (not local, so not started here)"
	# Built only here, when it is about to run: with S3 already answering
	# (another checkout's versitygw, a remote endpoint) nothing is built.
	build_versitygw
	local pid log=$logs/versitygw.log
	if ! pid=$(s3_pid); then
		mkdir -p "$s3_data" "$logs" "$pids"
		say "starting versitygw on $s3_hostport (data: $s3_data, log: $log)"
		printf '\n== %s: versitygw --port %s posix %s\n' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$s3_hostport" "$s3_data" >>"$log"
		ROOT_ACCESS_KEY=$PRINTFLEET_S3_ACCESS_KEY ROOT_SECRET_KEY=$PRINTFLEET_S3_SECRET_KEY \
			setsid "$PRINTFLEET_BIN/versitygw" --quiet --port "$s3_hostport" --region "$PRINTFLEET_S3_REGION" \
			posix "$s3_data" >>"$log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$pids/versitygw.pid"
	fi
	local deadline=$((SECONDS + wait_timeout))
	until s3_ok; do
		if ! kill -0 "$pid" 2>/dev/null; then
			say "error: versitygw exited; last lines of $log:"
			tail -n 30 "$log" >&2
			exit 1
		fi
		((SECONDS < deadline)) || die "versitygw did not answer on $s3_hostport within ${wait_timeout}s (see $log)"
		sleep 0.2
	done
}

cmd_stop_s3() {
	local pid i
	if ! pid=$(s3_pid); then
		rm -f "$pids/versitygw.pid"
		if s3_ok; then
			say "something answers on $s3_hostport but it was not started by this script; left running"
		fi
		return 0
	fi
	kill "$pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "versitygw ($pid) ignored SIGTERM for 10s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pids/versitygw.pid"
}

# ---------------------------------------------------------------- status

cmd_status() {
	local rc=0
	line() { printf '%-11s %-5s %s\n' "$1" "$2" "$3"; }
	if pg_ready 2>/dev/null; then line postgresql up "$PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT"; else
		line postgresql down "$PRINTFLEET_PG_HOST:$PRINTFLEET_PG_PORT"
		rc=1
	fi
	if is_local "$PRINTFLEET_PG_HOST"; then
		if pg_replica_streaming; then line pg-replica up "$PRINTFLEET_PG_HOST:$PRINTFLEET_PG_REPLICA_PORT"; else
			line pg-replica down "$PRINTFLEET_PG_HOST:$PRINTFLEET_PG_REPLICA_PORT"
			rc=1
		fi
	fi
	if redis_ok; then line redis up "$PRINTFLEET_REDIS_ADDR"; else
		line redis down "$PRINTFLEET_REDIS_ADDR"
		rc=1
	fi
	if rabbit_ok; then line rabbitmq up "$amqp_host:$amqp_port"; else
		line rabbitmq down "$amqp_host:$amqp_port"
		rc=1
	fi
	if s3_ok; then line s3 up "$PRINTFLEET_S3_ENDPOINT"; else
		line s3 down "$PRINTFLEET_S3_ENDPOINT"
		rc=1
	fi
	return "$rc"
}

# ---------------------------------------------------------------- main

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

# The whole dispatch is one function, called on the script's last line, so
# bash has read everything it will run before running it: editing this file
# while an `up` is building tools cannot derail that run.
main() {
	if [[ $# -ne 1 ]]; then
		usage >&2
		return 2
	fi
	case $1 in
	install | start | provision | tools | s3 | stop-s3 | stop-replica | up) take_lock "$@" ;;
	esac

	case $1 in
	install) cmd_install ;;
	start) cmd_start ;;
	provision) cmd_provision ;;
	tools) cmd_tools ;;
	s3) cmd_s3 ;;
	stop-s3) cmd_stop_s3 ;;
	stop-replica) stop_pg_replica ;;
	up)
		cmd_install
		cmd_start
		cmd_provision
		cmd_s3
		;;
	status) cmd_status ;;
	-h | --help | help) usage ;;
	*)
		say "unknown command: $1"
		usage >&2
		return 2
		;;
	esac
}

main "$@"
exit
