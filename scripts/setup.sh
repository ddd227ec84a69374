#!/usr/bin/env bash
# Installs what hastack needs from Debian when it is missing: the PostgreSQL
# server (the database tier runs it for real), the MariaDB server with
# mariadb-backup when $STACK runs engine = "mysql", and dig (the demo
# queries the DNS server with it). `setup.sh test` also installs Chromium, in which the
# tests render drill reports and drive the dashboard, the Prometheus server,
# which a test points at a running stack, and the MariaDB server with
# mariadb-backup, which the MySQL engine's tests run for real.
#
# hastack runs its own servers as children, on its own addresses and data
# directories; the system-wide service a Debian package would start is not
# wanted (it would hold port 3306 and /run/mysqld). So the packages are
# installed with a policy-rc.d that forbids starting services (unless the
# machine already has one), and the MariaDB service is stopped and disabled
# afterwards in case it was started anyway.
set -euo pipefail

need=()
if [ "${1:-}" = test ]; then
	command -v chromium >/dev/null 2>&1 || need+=(chromium)
	command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
fi
# The tests run MariaDB, and so does a stack with engine = "mysql" (the
# demo's STACK, say).
if [ "${1:-}" = test ] || { [ -n "${STACK:-}" ] && grep -Eq '^[[:space:]]*engine[[:space:]]*=[[:space:]]*"mysql"' "$STACK" 2>/dev/null; }; then
	[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
	command -v mariadb-backup >/dev/null 2>&1 || need+=(mariadb-backup)
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
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ " ${need[*]} " == *" mariadb-server "* ]]; then
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now mariadb >/dev/null 2>&1 || true
	fi
	if [ -S /run/mysqld/mysqld.sock ]; then
		service mariadb stop >/dev/null 2>&1 || true
	fi
fi
