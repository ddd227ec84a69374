#!/usr/bin/env bash
# Load balancer benchmark: wrk against two tiny Go backends directly, then
# through the hastack load balancer, HAProxy and nginx, one after the other
# in one run, on loopback only. Prints requests/s, p50 and p99 for each, the
# ratio hastack/HAProxy and the p99 hastack adds over direct ("direct" is
# one of the two backends on its own).
#
#   bench/lb/run.sh                  # 10 s per target, about a minute in all
#   DURATION=5s bench/lb/run.sh      # shorter
#   ROUNDS=3 DURATION=5s bench/lb/run.sh  # targets in turn three times, best run of each
#   PROFILE=1 bench/lb/run.sh        # also writes a CPU profile of hastack's run
#   NICE=-10 bench/lb/run.sh         # every process of the run at that priority
#                                    # (root), to shield it from other load
#
# "hastack+dash" is the same load balancer process, which serves the
# stack's dashboard throughout, with a page open on it (its event stream,
# sampled every 250 ms) and /metrics scraped every second, as a Prometheus
# would; "hastack" is that process with neither. The run prints what they
# cost. One process for both, so that the comparison is not between two
# processes' luck on a shared machine.
#
# Installs wrk, haproxy and nginx from Debian when missing (needs root).
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
NICE=${NICE:-0}
THREADS=2
CONNS=64
PORT=18080
BACKEND1=127.0.0.81
BACKEND2=127.0.0.82
HASTACK=127.0.0.90
HAPROXY=127.0.0.91
NGINX=127.0.0.92
DASHBOARD=127.0.0.93:18400

root=$(cd "$(dirname "$0")/../.." && pwd)

die() {
	echo "bench/lb: $*" >&2
	exit 1
}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
	[[ $EUID -eq 0 ]] || die "installing ${missing[*]} needs root; run as root or install them first"
	echo "installing ${missing[*]}..." >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin
command -v go >/dev/null || die "go is not installed"

work=$(mktemp -d /tmp/hastack-bench-lb.XXXXXX)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start LOGNAME CMD...: runs CMD in the background, remembered for cleanup.
start() {
	local log=$work/$1.log
	shift
	nice -n "$NICE" "$@" >"$log" 2>&1 &
	pids+=("$!")
}

# wait_http ADDR: waits up to 10 s for an HTTP answer on ADDR.
wait_http() {
	local i
	for i in $(seq 100); do
		if curl -s -o /dev/null --max-time 1 "http://$1/"; then
			return 0
		fi
		sleep 0.1
	done
	die "nothing answers on $1 (logs in $work)"
}

for addr in $BACKEND1 $BACKEND2 $HASTACK $HAPROXY $NGINX; do
	if curl -s -o /dev/null --max-time 1 "http://$addr:$PORT/"; then
		die "$addr:$PORT is already in use"
	fi
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "building..." >&2
(cd "$root" && go build -o "$work/backend" ./bench/lb/backend && go build -o "$work/hastacklb" ./bench/lb/hastacklb)

start backend1 "$work/backend" -addr "$BACKEND1:$PORT"
start backend2 "$work/backend" -addr "$BACKEND2:$PORT"
wait_http "$BACKEND1:$PORT"
wait_http "$BACKEND2:$PORT"

profile=()
profile_out=${PROFILE_OUT:-/tmp/hastack-lb.cpu.pprof}
if [[ ${PROFILE:-} == 1 ]]; then
	profile=(-cpuprofile "$profile_out")
fi
start hastack "$work/hastacklb" -listen "$HASTACK:$PORT" -backends "$BACKEND1:$PORT,$BACKEND2:$PORT" -dashboard "$DASHBOARD" "${profile[@]}"
hastack_pid=${pids[-1]}

cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend fe
    bind $HAPROXY:$PORT
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    server b1 $BACKEND1:$PORT check inter 1s
    server b2 $BACKEND2:$PORT check inter 1s
EOF
start haproxy haproxy -db -f "$work/haproxy.cfg"

nginx_user=""
if [[ $EUID -eq 0 ]]; then
	nginx_user="user root;"
fi
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
$nginx_user
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log crit;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream backends {
        server $BACKEND1:$PORT;
        server $BACKEND2:$PORT;
        keepalive 64;
    }
    server {
        listen $NGINX:$PORT;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
start nginx nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx.conf"

wait_http "$HASTACK:$PORT"
wait_http "$DASHBOARD"
wait_http "$HAPROXY:$PORT"
wait_http "$NGINX:$PORT"

# to_ms VALUE: wrk's latency (e.g. 812.00us, 1.23ms, 1.01s) in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n = n
		else if (v ~ /m$/) n *= 60000
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}

declare -A rps p50 p99
names=(direct hastack hastack+dash haproxy nginx)
declare -A url=(
	[direct]="http://$BACKEND1:$PORT/"
	[hastack]="http://$HASTACK:$PORT/"
	[hastack+dash]="http://$HASTACK:$PORT/"
	[haproxy]="http://$HAPROXY:$PORT/"
	[nginx]="http://$NGINX:$PORT/"
)
for round in $(seq "$ROUNDS"); do
	for name in "${names[@]}"; do
		echo "round $round/$ROUNDS: wrk -t$THREADS -c$CONNS -d$DURATION --latency ${url[$name]}  ($name)" >&2
		watchers=()
		if [[ $name == hastack+dash ]]; then
			# An open page and a Prometheus scraping every second: one
			# long-lived scraper on one connection, as Prometheus is. A
			# new curl process each second would cost the 2 cores more
			# than the scrape itself.
			curl -sN "http://$DASHBOARD/api/events" >/dev/null &
			watchers+=("$!")
			curl -s --rate 1/s -o /dev/null "http://$DASHBOARD/metrics?scrape=[1-100000]" &
			watchers+=("$!")
		fi
		nice -n "$NICE" wrk -t$THREADS -c$CONNS -d"$WARMUP" "${url[$name]}" >/dev/null
		out=$(nice -n "$NICE" wrk -t$THREADS -c$CONNS -d"$DURATION" --latency "${url[$name]}")
		if ((${#watchers[@]})); then
			kill "${watchers[@]}" 2>/dev/null || true
			wait "${watchers[@]}" 2>/dev/null || true
		fi
		if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
			echo "$name: $(grep -E 'Non-2xx|Socket errors' <<<"$out")" >&2
		fi
		r=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
		# The best of the rounds counts: other load on the machine only slows a run down.
		if [[ -z ${rps[$name]:-} ]] || ((r > rps[$name])); then
			rps[$name]=$r
			p50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
			p99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
		fi
	done
done

if [[ ${PROFILE:-} == 1 ]]; then
	kill -INT "$hastack_pid"
	wait "$hastack_pid" || true
fi

echo
printf '%-13s %12s %10s %10s\n' target "requests/s" "p50 ms" "p99 ms"
for name in "${names[@]}"; do
	printf '%-13s %12s %10s %10s\n' "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}"
done
echo
awk -v h="${rps[hastack]}" -v x="${rps[haproxy]}" -v hp="${p99[hastack]}" -v dp="${p99[direct]}" 'BEGIN {
	ratio = h / x
	added = hp - dp
	printf "hastack/haproxy requests/s: %.2f (target >= 0.80: %s)\n", ratio, (ratio >= 0.8 ? "met" : "missed")
	printf "hastack p99 added over direct: %.2f ms (target <= 1 ms: %s)\n", added, (added <= 1 ? "met" : "missed")
}'
awk -v h="${rps[hastack]}" -v d="${rps[hastack+dash]}" 'BEGIN {
	cost = 100 * (1 - d / h)
	printf "dashboard open and /metrics scraped: %.1f%% of hastack requests/s (target < 3%%: %s)\n", cost, (cost < 3 ? "met" : "missed")
}'
echo "cores: $(nproc); load average at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ${PROFILE:-} == 1 ]]; then
	echo "profile: go tool pprof -top $profile_out"
fi
