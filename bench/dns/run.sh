#!/usr/bin/env bash
# Benchmarks hastack's DNS server against NSD in one run: dnsperf sends the
# same query (app.example.com A) to each for the same time, and the table
# shows queries per second, average latency and the ratio hastack/NSD.
# Loopback only; every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-20}
HASTACK_ADDR=127.0.0.1
HASTACK_PORT=15353
NSD_PORT=15354

need=()
command -v dnsperf >/dev/null 2>&1 || need+=(dnsperf)
command -v nsd >/dev/null 2>&1 || need+=(nsd)
if ((${#need[@]})); then
	[ "$(id -u)" = 0 ] || { echo "bench/dns needs ${need[*]}: sudo apt-get install -y ${need[*]}" >&2; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/hastackdns" ./bench/dns/hastackdns

# NSD with the same zone, response rate limiting off so it is measured at
# full speed, one server process per core.
cat >"$work/example.com.zone" <<'ZONE'
$ORIGIN example.com.
$TTL 60
@   IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 86400
@   IN NS  ns1.example.com.
ns1 IN A   127.0.0.1
app IN A   127.1.1.10
ZONE
cat >"$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  server-count: $(nproc)
  username: ""
  chroot: ""
  zonesdir: "$work"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  rrl-ratelimit: 0
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
CONF

printf 'app.example.com A\n' >"$work/queries"

wait_udp() { # port
	for _ in $(seq 50); do
		dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" app.example.com A 2>/dev/null | grep -q 127.1.1.10 && return 0
		sleep 0.1
	done
	echo "server on port $1 did not answer" >&2
	exit 1
}

"$work/hastackdns" -listen "$HASTACK_ADDR:$HASTACK_PORT" &
pids+=($!)
nsd -d -c "$work/nsd.conf" &
pids+=($!)
wait_udp "$HASTACK_PORT"
wait_udp "$NSD_PORT"

measure() { # name port
	out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries" -c "$CLIENTS" -l "$DURATION" -q 1000 2>&1)
	qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
	lat=$(awk '/Average Latency/ {print $4}' <<<"$out")
	lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
	printf '%-10s %12.0f %14.3f %8s\n' "$1" "$qps" "$(awk -v l="$lat" 'BEGIN{print l*1000}')" "$lost"
	echo "$qps" >"$work/$1.qps"
}

echo "dnsperf -c $CLIENTS -l $DURATION, one query (app.example.com A), $(nproc) cores"
printf '%-10s %12s %14s %8s\n' server "queries/s" "avg latency ms" lost
measure hastack "$HASTACK_PORT"
measure nsd "$NSD_PORT"
awk -v h="$(cat "$work/hastack.qps")" -v n="$(cat "$work/nsd.qps")" 'BEGIN { printf "hastack/NSD: %.2fx\n", h/n }'
