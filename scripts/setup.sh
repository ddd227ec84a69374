#!/usr/bin/env bash
# Installs what hastack needs from Debian when it is missing: the PostgreSQL
# server (the database tier runs it for real) and dig (the demo queries the
# DNS server with it). `setup.sh test` also installs Chromium, in which the
# tests render drill reports and drive the dashboard, and the Prometheus
# server, which a test points at a running stack.
set -euo pipefail

need=()
if [ "${1:-}" = test ]; then
	command -v chromium >/dev/null 2>&1 || need+=(chromium)
	command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
fi
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v dig >/dev/null 2>&1 || need+=(dnsutils)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v go >/dev/null 2>&1 || { echo "setup: Go is not installed; hastack needs Go 1.26 or later (https://go.dev/doc/install)" >&2; exit 1; }

if ((${#need[@]} == 0)); then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "setup: hastack needs ${need[*]}; install with: sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
echo "setup: installing ${need[*]} from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
