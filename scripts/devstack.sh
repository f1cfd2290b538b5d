#!/usr/bin/env bash
# The local dev stack, without Docker: the Temporal CLI dev server (with the UI and the search
# attributes registered), versitygw (S3) with the bucket, PostgreSQL from DATABASE_URL or the
# local server on 127.0.0.1:5432, the worker and the HTTP gateway (`starter serve`). All state
# lives under .dev/ (ignored by git).
#
#   scripts/devstack.sh tools   build the pinned Temporal CLI, versitygw and workflowcheck into .dev/bin
#   scripts/devstack.sh up      start everything (idempotent) and write .dev/env
#   scripts/devstack.sh down    stop everything started by up
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
	say "building worker and starter"
	go build -C "$root" -o "$bin/worker" ./worker
	go build -C "$root" -o "$bin/starter" ./starter

	local db
	db=$(database_url)
	local sa_flags=()
	while IFS= read -r sa; do sa_flags+=(--search-attribute "$sa"); done < <("$bin/worker" search-attributes)
	start temporal "$bin/temporal" server start-dev --ip 127.0.0.1 --port "$K2K_TEMPORAL_PORT" \
		--ui-port "$K2K_TEMPORAL_UI_PORT" --ui-codec-endpoint "http://127.0.0.1:$K2K_CODEC_PORT" --http-port 0 --metrics-port 0 \
		--db-filename "$dev/data/temporal.db" --namespace "$namespace" "${sa_flags[@]}" --log-level warn
	start s3 "$bin/versitygw" --port "127.0.0.1:$K2K_S3_PORT" --access "$s3_access" --secret "$s3_secret" \
		--region us-east-1 posix "$dev/data/s3"
	wait_port temporal "$K2K_TEMPORAL_PORT"
	# A dev server started by an older version may lack newer search attributes: add any missing.
	local name type
	while IFS== read -r name type; do
		"$bin/temporal" operator search-attribute create --address "127.0.0.1:$K2K_TEMPORAL_PORT" \
			--namespace "$namespace" --name "$name" --type "$type" >/dev/null 2>&1 || true
	done < <("$bin/worker" search-attributes)
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
# Written by scripts/devstack.sh up: source it to use bin/starter against the dev stack.
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
export K2K_PAYLOAD_KEYS='$(cat "$dev/payload-keys")'
export K2K_CODEC_URL=http://127.0.0.1:$K2K_CODEC_PORT
ENV
	# shellcheck source=/dev/null
	source "$dev/env"
	if running worker; then
		say "restarting the worker on the fresh build"
		cmd_stop worker
	fi
	start worker "$bin/worker"
	local i
	for i in $(seq 1 100); do
		grep -q '"worker started"' "$logs/worker.log" 2>/dev/null && break
		running worker || die "the worker exited; see .dev/log/worker.log: $(tail -n 3 "$logs/worker.log")"
		sleep 0.1
	done
	start_gateway
	if running codec; then
		cmd_stop codec
	fi
	start codec "$bin/starter" codec-server --listen "127.0.0.1:$K2K_CODEC_PORT" \
		--origins "http://127.0.0.1:$K2K_TEMPORAL_UI_PORT,http://localhost:$K2K_TEMPORAL_UI_PORT"
	wait_port codec "$K2K_CODEC_PORT"
	say "dev stack up: Temporal $TEMPORAL_ADDRESS, UI $K2K_TEMPORAL_UI_URL, S3 $AWS_ENDPOINT_URL_S3/$K2K_S3_BUCKET, gateway $K2K_GATEWAY_URL, codec server $K2K_CODEC_URL"
	say "use it from a shell with: source .dev/env && .dev/bin/starter --help"
}

# start_gateway: (re)starts the HTTP gateway on the fresh build, after the worker has migrated the
# database, and waits until GET /healthz answers.
start_gateway() {
	if running gateway; then
		say "restarting the gateway on the fresh build"
		cmd_stop gateway
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$K2K_GATEWAY_PORT") 2>/dev/null; then
		die "port $K2K_GATEWAY_PORT is taken by another process; stop it or set K2K_GATEWAY_PORT"
	fi
	start gateway "$bin/starter" serve --listen "127.0.0.1:$K2K_GATEWAY_PORT"
	local i
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "$K2K_GATEWAY_URL/healthz" && return
		running gateway || die "the gateway exited; see .dev/log/gateway.log: $(tail -n 3 "$logs/gateway.log")"
		sleep 0.1
	done
	die "the gateway does not answer $K2K_GATEWAY_URL/healthz after 10 s; see .dev/log/gateway.log"
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
	cmd_stop codec
	cmd_stop gateway
	cmd_stop worker
	cmd_stop s3
	cmd_stop temporal
}

case "${1:-}" in
tools) cmd_tools ;;
up) cmd_up ;;
down) cmd_down ;;
*) die "usage: $0 tools|up|down" ;;
esac
