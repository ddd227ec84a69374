#!/usr/bin/env bash
# The main job: bring up the quick two-region stack, fail the primary region,
# watch DNS fail over to the secondary, promote, recover, switch the
# primary back home with no loss, and tear down. It leaves the stack as it
# found it (primary home, standby synchronous, DNS on the primary region),
# so it can run again. STACK=examples/quick-mysql/stack.hcl runs the same
# on MySQL (MariaDB).
set -euo pipefail
cd "$(dirname "$0")/.."

hastack=bin/hastack
stack=${STACK:-examples/quick/stack.hcl}
dns_ip=127.0.0.1
dns_port=5353
name=app.example.com

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '\033[2m$ hastack %s\033[0m\n' "$*"; "$hastack" "$@"; }
answer() { dig +short +time=1 +tries=1 @"$dns_ip" -p "$dns_port" "$name" A 2>/dev/null | head -n1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# synced: a synchronous standby holds every commit.
synced() { "$hastack" status -f "$stack" | grep -q "a synchronous standby holds every commit"; }
# settled: synced, every database node that runs streams (or is the
# primary), and Route53 counts every record healthy.
settled() {
	local st
	st=$("$hastack" status -f "$stack") || return 1
	grep -q "a synchronous standby holds every commit" <<<"$st" && ! grep -q UNHEALTHY <<<"$st" &&
		! awk '$1 ~ /^db-/ && $NF == "running" { print $6 }' <<<"$st" | grep -qv -e '^primary$' -e '^sync$' -e '^async$'
}
# wait_until MESSAGE CONDITION waits up to 60 s for CONDITION and says
# how long it took.
wait_until() {
	local start deadline
	start=$(now)
	deadline=$(( $(date +%s) + 60 ))
	until "$2"; do
		if (( $(date +%s) > deadline )); then echo "$1 did not happen within 60s" >&2; exit 1; fi
		sleep 0.25
	done
	say "$1 after $(since "$start")s"
}

cleanup() { "$hastack" down -f "$stack" >/dev/null 2>&1 || true; }
trap cleanup EXIT

say "1. Bring up the quick two-region stack (database, two regions, DNS)"
run up -d -f "$stack"
# An interrupted earlier run may have left the database primary in
# us-west-2: bring it home first, with no loss.
home=$("$hastack" status -f "$stack" | awk '$1 ~ /^db-/ && $4 == "primary" { print $2 }')
if [ "$home" != "us-east-1" ]; then
	say "The database primary is in $home, left there by an earlier run: switching it home first"
	run switchover us-east-1 -f "$stack"
fi
wait_until "Every database node streaming, the standby synchronous" settled
run status -f "$stack"

primary=$(answer)
say "2. $name resolves to the primary region's load balancer: $primary"
curl -sS "http://$primary:8080/"
curl -sS -X PUT --data "written before the failover" "http://$primary:8080/kv/demo"
echo

say "3. Fail the primary region (cut off: every packet between it and the rest is dropped; everything inside keeps running)"
start=$(now)
run fail region us-east-1 -f "$stack"
printf '%-8s %-14s %s\n' "t(s)" "DNS answer" "served by"
deadline=$(( $(date +%s) + 30 ))
while :; do
	a=$(answer)
	served=$(curl -s -m 1 "http://$a:8080/" || echo "(no answer)")
	printf '%-8s %-14s %s\n' "$(since "$start")" "${a:-none}" "$served"
	if [ -n "$a" ] && [ "$a" != "$primary" ]; then break; fi
	if (( $(date +%s) > deadline )); then echo "DNS did not fail over within 30s" >&2; exit 1; fi
	sleep 0.25
done
secondary=$a
say "DNS failed over to $secondary after $(since "$start")s; the data written before is still there (read from the replica):"
curl -sS "http://$secondary:8080/kv/demo"
echo
printf 'a write there fails until someone promotes the replica (cross_region_failover = "manual", as in the seed): '
curl -sS -m 3 -X PUT --data "written after the failover" "http://$secondary:8080/kv/demo2" || true
echo

say "4. Promote the replica in us-west-2, as the seed's on-call engineer would"
run promote us-west-2 -f "$stack"
curl -sS -X PUT --data "written after the promotion" "http://$secondary:8080/kv/demo2"
echo
# With multi_az, us-west-2's spare is made the new primary's standby.
wait_until "us-west-2's spare made the new primary's synchronous standby (Multi-AZ)" synced

say "5. Recover the primary region: its old database primary rejoins as a replica; DNS fails back once its checks pass"
start=$(now)
run recover region us-east-1 -f "$stack"
# Its instances may have been replaced while it was cut off: wait until
# DNS has answered with it for two seconds in a row.
deadline=$(( $(date +%s) + 60 ))
steady=0
while (( steady < 8 )); do
	if [ "$(answer)" = "$primary" ]; then steady=$((steady + 1)); else steady=0; fi
	if (( $(date +%s) > deadline )); then echo "DNS did not fail back within 60s" >&2; exit 1; fi
	sleep 0.25
done
say "DNS answers the primary again after $(since "$start")s"

say "6. Fail back: switch the database primary over to us-east-1 (planned: writes stop, us-east-1 catches up, nothing is lost)"
deadline=$(( $(date +%s) + 60 ))
until run switchover us-east-1 -f "$stack"; do
	if (( $(date +%s) > deadline )); then echo "the switchover home did not succeed within 60s" >&2; exit 1; fi
	echo "(the old primary is still rejoining; trying again)"
	sleep 2
done
curl -sS "http://$primary:8080/kv/demo2"
echo
wait_until "Home as at the start: us-east-1's standby synchronous again, every node streaming, both regions healthy" settled
run status -f "$stack"

say "7. Tear down (data is kept; hastack down --purge deletes it; the demo can run again)"
run down -f "$stack"
trap - EXIT
