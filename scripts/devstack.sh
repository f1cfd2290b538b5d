#!/usr/bin/env bash
# The local stack, without Docker, in one of two profiles (PROFILE, default dev):
#
#   dev      the Temporal CLI dev server (one process, SQLite, one history shard, the UI built in),
#            one worker, one HTTP gateway, the codec server;
#   cluster  the real Temporal server v1.29.1 on the local PostgreSQL (persistence and advanced
#            visibility, 8 history shards, deploy/temporal/config/k2k.yaml and its dynamic config),
#            the standalone Temporal UI, two workers and two gateways on their own ports, the
#            codec server.
#
# Both add versitygw (S3) with the bucket and PostgreSQL from DATABASE_URL or the local server on
# 127.0.0.1:5432, and register the namespace and the search attributes from the worker's one list.
# All state lives under .dev/ (ignored by git).
#
#   scripts/devstack.sh tools   build the pinned tools into .dev/bin
#   scripts/devstack.sh up      start everything (idempotent) and write .dev/env
#   scripts/devstack.sh down    stop everything started by up, whichever profile
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dev=$root/.dev
bin=$dev/bin
run=$dev/run
logs=$dev/log

: "${K2K_TEMPORAL_PORT:=7233}"
: "${K2K_TEMPORAL_UI_PORT:=8233}"
: "${K2K_S3_PORT:=7070}"
: "${K2K_S3_BUCKET:=k2k-invoices}"
: "${K2K_CODEC_PORT:=8089}"
: "${K2K_GATEWAY_PORT:=8088}"
: "${K2K_WORKER_PORT:=9464}"
: "${PROFILE:=dev}"
# The cluster profile's Temporal server: its own ports besides the frontend's, and its databases
# on the local PostgreSQL.
: "${K2K_TEMPORAL_DB_HOST:=127.0.0.1}"
: "${K2K_TEMPORAL_DB_PORT:=5432}"
: "${K2K_TEMPORAL_DB_USER:=postgres}"
s3_access=k2kdev
s3_secret=k2kdev-secret-key
namespace=default

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# build_tool NAME MODULE_DIR PACKAGE WHAT: builds a pinned tool from its own tools module, with
# progress, unless the binary is newer than the module's go.mod.
build_tool() {
	local name=$1 moddir=$2 pkg=$3 what=$4
	if [[ -x $bin/$name && $bin/$name -nt $moddir/go.mod ]]; then
		return
	fi
	mkdir -p "$bin"
	say "building $what into .dev/bin/$name (the first build takes minutes; later ones use the Go build cache)"
	(cd "$moddir" && go build -v -o "$bin/$name" "$pkg" 2>&1) |
		awk '{ n++; if (n % 100 == 0) { printf "    %d packages compiled...\n", n; fflush() } } END { printf "    %d packages compiled\n", n }'
	[[ -x $bin/$name ]] || die "building $name failed"
}

cmd_tools() {
	build_tool temporal "$root/tools/temporal" github.com/temporalio/cli/cmd/temporal "the Temporal CLI v1.5.1"
	build_tool versitygw "$root/tools/versitygw" github.com/versity/versitygw/cmd/versitygw "versitygw v1.8.0"
	build_tool workflowcheck "$root/tools/workflowcheck" go.temporal.io/sdk/contrib/tools/workflowcheck "workflowcheck v0.6.0"
	build_tool staticcheck "$root/tools/staticcheck" honnef.co/go/tools/cmd/staticcheck "staticcheck v0.8.2"
	build_tool temporal-server "$root/tools/temporal-server" go.temporal.io/server/cmd/server "the Temporal server v1.29.1"
	build_tool temporal-sql-tool "$root/tools/temporal-server" go.temporal.io/server/cmd/tools/sql "temporal-sql-tool v1.29.1"
	build_tool temporal-ui-server "$root/tools/temporal-ui" github.com/temporalio/ui-server/v2/cmd/server "the Temporal UI server v2.42.1"
}

# running NAME: whether the process started under NAME is alive.
running() { [[ -f $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

# start NAME CMD...: starts CMD in the background unless NAME runs already.
start() {
	local name=$1; shift
	if running "$name"; then
		say "$name already running (pid $(cat "$run/$name.pid"))"
		return
	fi
	"$@" >"$logs/$name.log" 2>&1 &
	echo $! >"$run/$name.pid"
	say "$name started (pid $!, log .dev/log/$name.log)"
}

# wait_port NAME PORT: waits until something listens on 127.0.0.1:PORT.
wait_port() {
	local i
	for i in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return; fi
		running "$1" || die "$1 exited; see .dev/log/$1.log"
		sleep 0.1
	done
	die "$1 is not listening on port $2 after 10 s; see .dev/log/$1.log"
}

# database_url: DATABASE_URL if set, else a k2k_dev database on the local server.
database_url() {
	if [[ -n ${DATABASE_URL:-} ]]; then
		echo "$DATABASE_URL"
		return
	fi
	if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
		die "no PostgreSQL: set DATABASE_URL, or start the local server on 127.0.0.1:5432 (for example: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)"
	fi
	if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'k2k_dev'" | grep -q 1; then
		psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE k2k_dev" >/dev/null
	fi
	echo "postgres://postgres@127.0.0.1:5432/k2k_dev?sslmode=disable"
}

cmd_up() {
	cmd_tools
	mkdir -p "$run" "$logs" "$dev/data/s3"
	say "building worker, gateway, codec-server and starter"
	go build -C "$root" -o "$bin/" ./worker ./gateway ./codec-server ./starter

	local db
	db=$(database_url)
	local up_profile
	up_profile=$(cat "$dev/profile" 2>/dev/null || true)
	if [[ -n $up_profile && $up_profile != "$PROFILE" ]] && running temporal; then
		die "the $up_profile profile is running; stop it first with: make down"
	fi
	echo "$PROFILE" >"$dev/profile"
	case $PROFILE in
	dev) start_temporal_dev ;;
	cluster) start_temporal_cluster ;;
	*) die "PROFILE must be dev or cluster, not $PROFILE" ;;
	esac
	start s3 "$bin/versitygw" --port "127.0.0.1:$K2K_S3_PORT" --access "$s3_access" --secret "$s3_secret" \
		--region us-east-1 posix "$dev/data/s3"
	register_namespace
	wait_port s3 "$K2K_S3_PORT"
	# Create the bucket with a signed S3 CreateBucket (409: it exists and is ours already).
	local code
	code=$(curl -sS -o "$logs/create-bucket.xml" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$s3_access:$s3_secret" -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" \
		-X PUT "http://127.0.0.1:$K2K_S3_PORT/$K2K_S3_BUCKET")
	[[ $code == 200 || $code == 409 ]] || die "creating bucket $K2K_S3_BUCKET failed (HTTP $code): $(cat "$logs/create-bucket.xml")"

	# The dev stack's own payload key, made once (payloads are sealed with AES-256-GCM).
	[[ -s $dev/payload-keys ]] || printf 'dev-%s:%s\n' "$(date -u +%Y%m%d)" "$(head -c 32 /dev/urandom | base64)" >"$dev/payload-keys"

	cat >"$dev/env" <<ENV
# Written by scripts/devstack.sh up: source it to use the starter and the Temporal CLI against the stack.
export TEMPORAL_ADDRESS=127.0.0.1:$K2K_TEMPORAL_PORT
export TEMPORAL_NAMESPACE=$namespace
export K2K_TEMPORAL_UI_URL=http://127.0.0.1:$K2K_TEMPORAL_UI_PORT
export DATABASE_URL='$db'
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$s3_access
export AWS_SECRET_ACCESS_KEY=$s3_secret
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$K2K_S3_PORT
export K2K_S3_BUCKET=$K2K_S3_BUCKET
export K2K_S3_PATH_STYLE=true
export K2K_GATEWAY_URL=http://127.0.0.1:$K2K_GATEWAY_PORT
export K2K_PROFILE=$PROFILE
export K2K_PAYLOAD_KEYS='$(cat "$dev/payload-keys")'
export K2K_CODEC_URL=http://127.0.0.1:$K2K_CODEC_PORT
# The pinned tools first on PATH, and the Temporal CLI decoding payloads through the codec server,
# so the README's bare \`temporal ...\` commands work as written.
export TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:$K2K_CODEC_PORT
export PATH="$bin:\$PATH"
ENV
	# shellcheck source=/dev/null
	source "$dev/env"
	local replicas=1 n
	[[ $PROFILE == cluster ]] && replicas=2
	for n in $(seq 1 "$replicas"); do
		start_worker "$(replica worker "$n")" "$((K2K_WORKER_PORT + n - 1))"
	done
	for n in $(seq 1 "$replicas"); do
		start_gateway "$(replica gateway "$n")" "$((K2K_GATEWAY_PORT + (n - 1) * 100))"
	done
	if running codec; then
		cmd_stop codec
	fi
	start codec "$bin/codec-server" --listen "127.0.0.1:$K2K_CODEC_PORT" \
		--origins "http://127.0.0.1:$K2K_TEMPORAL_UI_PORT,http://localhost:$K2K_TEMPORAL_UI_PORT"
	wait_port codec "$K2K_CODEC_PORT"
	if [[ $PROFILE == cluster ]]; then
		TEMPORAL_ADDRESS=127.0.0.1:$K2K_TEMPORAL_PORT TEMPORAL_UI_PORT=$K2K_TEMPORAL_UI_PORT \
			TEMPORAL_CODEC_ENDPOINT=http://127.0.0.1:$K2K_CODEC_PORT \
			start temporal-ui "$bin/temporal-ui-server" --root "$root/deploy/temporal-ui" --config config --env k2k start
		wait_port temporal-ui "$K2K_TEMPORAL_UI_PORT"
	fi
	say "$PROFILE profile up: Temporal $TEMPORAL_ADDRESS, UI $K2K_TEMPORAL_UI_URL, S3 $AWS_ENDPOINT_URL_S3/$K2K_S3_BUCKET, gateway $K2K_GATEWAY_URL, codec server $K2K_CODEC_URL"
	say "use it from a shell with: source .dev/env && .dev/bin/starter --help"
}

# replica NAME N: the process name of replica N (the dev profile runs one, named plainly).
replica() { if [[ $PROFILE == cluster ]]; then echo "$1-$2"; else echo "$1"; fi; }

# start_worker NAME PORT: (re)starts a worker on the fresh build, its metrics and health on PORT,
# and waits until it has started.
start_worker() {
	local name=$1 port=$2 i
	if running "$name"; then
		say "restarting $name on the fresh build"
		cmd_stop "$name"
	fi
	K2K_WORKER_HTTP_LISTEN=127.0.0.1:$port start "$name" "$bin/worker"
	for i in $(seq 1 100); do
		grep -q '"worker started"' "$logs/$name.log" 2>/dev/null && return
		running "$name" || die "$name exited; see .dev/log/$name.log: $(tail -n 3 "$logs/$name.log")"
		sleep 0.1
	done
	die "$name has not started after 10 s; see .dev/log/$name.log"
}

# start_gateway NAME PORT: (re)starts an HTTP gateway on the fresh build, after the workers have
# migrated the database, and waits until GET /healthz answers.
start_gateway() {
	local name=$1 port=$2 i
	if running "$name"; then
		say "restarting $name on the fresh build"
		cmd_stop "$name"
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port is taken by another process; stop it or set K2K_GATEWAY_PORT"
	fi
	start "$name" "$bin/gateway" --listen "127.0.0.1:$port"
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return
		running "$name" || die "$name exited; see .dev/log/$name.log: $(tail -n 3 "$logs/$name.log")"
		sleep 0.1
	done
	die "$name does not answer http://127.0.0.1:$port/healthz after 10 s; see .dev/log/$name.log"
}

# start_temporal_dev: the CLI's dev server, with the UI and the search attributes.
start_temporal_dev() {
	local sa_flags=()
	while IFS= read -r sa; do sa_flags+=(--search-attribute "$sa"); done < <("$bin/worker" search-attributes)
	start temporal "$bin/temporal" server start-dev --ip 127.0.0.1 --port "$K2K_TEMPORAL_PORT" \
		--ui-port "$K2K_TEMPORAL_UI_PORT" --ui-codec-endpoint "http://127.0.0.1:$K2K_CODEC_PORT" --http-port 0 --metrics-port 0 \
		--db-filename "$dev/data/temporal.db" --namespace "$namespace" "${sa_flags[@]}" --log-level warn
	wait_port temporal "$K2K_TEMPORAL_PORT"
}

# start_temporal_cluster: the real server on the local PostgreSQL, its schema created or upgraded
# first with the schema files of the pinned server module.
start_temporal_cluster() {
	local schema
	schema=$(cd "$root/tools/temporal-server" && go list -m -f '{{.Dir}}' go.temporal.io/server)/schema/postgresql/v12
	[[ -d $schema ]] || die "the server's schema files are not in the module cache: $schema"
	if ! running temporal; then
		temporal_schema temporal "$schema/temporal/versioned"
		temporal_schema temporal_visibility "$schema/visibility/versioned"
	fi
	export TEMPORAL_DB_HOST=$K2K_TEMPORAL_DB_HOST TEMPORAL_DB_PORT=$K2K_TEMPORAL_DB_PORT TEMPORAL_DB_USER=$K2K_TEMPORAL_DB_USER
	export TEMPORAL_DB_PASSWORD=${K2K_TEMPORAL_DB_PASSWORD:-} TEMPORAL_FRONTEND_PORT=$K2K_TEMPORAL_PORT
	export TEMPORAL_DYNAMIC_CONFIG=$root/deploy/temporal/dynamicconfig/k2k.yaml
	start temporal "$bin/temporal-server" --root "$root/deploy/temporal" --config config --env k2k --allow-no-auth start
	wait_port temporal "$K2K_TEMPORAL_PORT"
}

# temporal_schema DB VERSIONED_DIR: creates the database, sets up the schema's version table and
# upgrades the schema to the newest version. Each step leaves what is there already (checked), so
# a second run leaves a current database as it is. docker-compose.yml runs the same three steps.
temporal_schema() {
	local db=$1 dir=$2
	local sql=("$bin/temporal-sql-tool" --plugin postgres12 --ep "$K2K_TEMPORAL_DB_HOST" -p "$K2K_TEMPORAL_DB_PORT"
		-u "$K2K_TEMPORAL_DB_USER" --db "$db")
	[[ -n ${K2K_TEMPORAL_DB_PASSWORD:-} ]] && sql+=(--pw "$K2K_TEMPORAL_DB_PASSWORD")
	local log=$logs/temporal-schema.log
	"${sql[@]}" create-database >>"$log" 2>&1 || die "create-database $db failed; see $log"
	"${sql[@]}" setup-schema -v 0.0 >>"$log" 2>&1 || die "setup-schema $db failed; see $log"
	"${sql[@]}" update-schema -d "$dir" >>"$log" 2>&1 || die "update-schema $db failed; see $log"
	say "database $db at schema version $(psql -h "$K2K_TEMPORAL_DB_HOST" -p "$K2K_TEMPORAL_DB_PORT" -U "$K2K_TEMPORAL_DB_USER" \
		-tAq -d "$db" -c "SELECT curr_version FROM schema_version LIMIT 1")"
}

# register_namespace: the namespace (the real server starts without it) and every search
# attribute from the worker's list; both are no-ops when present.
register_namespace() {
	local cli=("$bin/temporal" operator --address "127.0.0.1:$K2K_TEMPORAL_PORT")
	local i
	for i in $(seq 1 60); do
		"${cli[@]}" namespace describe --namespace "$namespace" >/dev/null 2>&1 && break
		"${cli[@]}" namespace create --namespace "$namespace" --retention 720h >/dev/null 2>&1 && break
		sleep 0.5
	done
	"${cli[@]}" namespace describe --namespace "$namespace" >/dev/null 2>&1 || die "namespace $namespace could not be created"
	local name type
	while IFS== read -r name type; do
		for i in $(seq 1 20); do
			"${cli[@]}" search-attribute create --namespace "$namespace" --name "$name" --type "$type" >/dev/null 2>&1 && break
			sleep 0.5
		done
	done < <("$bin/worker" search-attributes)
	local have
	have=$("${cli[@]}" search-attribute list --namespace "$namespace" 2>/dev/null)
	while IFS== read -r name type; do
		grep -q "$name" <<<"$have" || die "search attribute $name is not registered on $namespace"
	done < <("$bin/worker" search-attributes)
}

# cmd_stop NAME: stops one process with SIGTERM, then SIGKILL after 10 s.
cmd_stop() {
	local name=$1 pid i
	running "$name" || { rm -f "$run/$name.pid"; return; }
	pid=$(cat "$run/$name.pid")
	kill -TERM "$pid"
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	rm -f "$run/$name.pid"
	say "$name stopped"
}

cmd_down() {
	local name
	for name in codec gateway gateway-1 gateway-2 worker worker-1 worker-2 temporal-ui s3 temporal; do
		cmd_stop "$name"
	done
	rm -f "$dev/profile"
}

case "${1:-}" in
tools) cmd_tools ;;
up) cmd_up ;;
down) cmd_down ;;
*) die "usage: $0 tools|up|down" ;;
esac
