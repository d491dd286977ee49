#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (and every later run: each step is idempotent).
#   scripts/bootstrap.sh up     install everything, migrate, ensure an admin, start the stack
#   scripts/bootstrap.sh test   install everything, then run the whole test suite
#   scripts/bootstrap.sh down   stop what `up` started (web, rtpengine, Kamailio, controller, worker, jobs, the firewall
#                               table)
#   scripts/bootstrap.sh install  only the install steps
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
VAR="$ROOT/var"
mkdir -p "$VAR"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

APT_PACKAGES=(
  kamailio kamailio-mysql-modules kamailio-tls-modules kamailio-websocket-modules
  kamailio-json-modules kamailio-extra-modules kamailio-utils-modules
  rtpengine-daemon
  sip-tester mariadb-server mariadb-client redis-server
  python3-venv python3-dev build-essential openssl curl nftables
  chromium fonts-liberation
)

install_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "apt: all packages present"; return; fi
  say "apt: installing ${missing[*]}"
  as_root apt-get update -q
  # policy-rc.d keeps the packages from starting their own daemons; we start what we need below.
  as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  as_root rm -f /usr/sbin/policy-rc.d
  # rtpengine-daemon enables its own service (/etc/rtpengine/rtpengine.conf, ng on localhost:2223, kernel table 0):
  # after a reboot it would hold the ng port before `up` starts ours.
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable rtpengine-daemon.service >/dev/null 2>&1 || true
  fi
}

start_mariadb() {
  if mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then say "mariadb: already running"; return; fi
  say "mariadb: starting"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    as_root systemctl start mariadb
  else
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  for _ in $(seq 1 60); do mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && return; sleep 0.5; done
  echo "mariadb did not start" >&2; exit 1
}

start_redis() {
  if redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then say "redis: already running"; return; fi
  say "redis: starting"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/controlplane.log
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && return; sleep 0.25; done
  echo "redis did not start" >&2; exit 1
}

install_python() {
  if [ ! -x "$VENV/bin/python" ]; then say "python: creating $VENV"; "$PY" -m venv "$VENV"; fi
  local stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "python: installing controlplane and its dependencies"
    "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
    "$VENV/bin/pip" install -q -e ".[dev]"
    touch "$stamp"
  else
    say "python: dependencies up to date"
  fi
}

prepare_database() {
  say "database: migrations and Kamailio tables"
  "$VENV/bin/controlplane" db upgrade
}

install_assets() {
  # The API reference page's scripts come from npm (web-assets/package-lock.json), served by the app itself.
  if ! command -v npm >/dev/null 2>&1; then
    say "apt: installing nodejs npm"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  fi
  local stamp="$ROOT/web-assets/node_modules/.installed-$(sha1sum web-assets/package-lock.json | cut -c1-12)"
  if [ -f "$stamp" ]; then say "assets: up to date"; return; fi
  say "assets: npm ci (web-assets)"
  (cd "$ROOT/web-assets" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
}

ensure_admin() {
  "$VENV/bin/controlplane" user ensure-admin
}

install_all() {
  install_apt
  start_mariadb
  start_redis
  install_python
  install_assets
}

# Start a long-running controlplane process once: `start_daemon NAME ARGS...` (pid in var/NAME.pid).
start_daemon() {
  local name=$1; shift
  if [ -f "$VAR/$name.pid" ] && kill -0 "$(cat "$VAR/$name.pid")" 2>/dev/null; then
    say "$name: already running (pid $(cat "$VAR/$name.pid"))"; return
  fi
  say "$name: starting (log: var/$name.log)"
  nohup "$VENV/bin/controlplane" "$@" >"$VAR/$name.log" 2>&1 &
  echo $! >"$VAR/$name.pid"
}

start_web() { start_daemon web web; }
start_controller() { start_daemon controller controller; }
start_worker() { start_daemon worker worker; }
start_jobs() { start_daemon jobs jobs; }

# The edge's media relay (user-space forwarding; no kernel module, no dkms), before Kamailio, which drives it.
start_rtpengine() {
  local on="${CP_KAMAILIO_RTPENGINE:-1}" run="${CP_RTPENGINE_RUN_DIR:-$VAR/rtpengine}" pid
  case "${on,,}" in
    1|true|yes) ;;
    *) say "rtpengine: off (CP_KAMAILIO_RTPENGINE=$on)"; return ;;
  esac
  pid="$run/rtpengine.pid"
  if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
    say "rtpengine: already running (pid $(cat "$pid"))"; return
  fi
  say "rtpengine: starting (ng ${CP_RTPENGINE_NG:-127.0.0.1:2223}, log: var/rtpengine.log)"
  CP_RTPENGINE_RUN_DIR="$run" "$VENV/bin/controlplane" kamailio rtpengine-start --log "$VAR/rtpengine.log"
}

start_kamailio() {
  local run="${CP_KAMAILIO_RUN_DIR:-$VAR/kamailio}" pid
  pid="$run/kamailio.pid"
  if [ -f "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then
    say "kamailio: already running (pid $(cat "$pid"))"; return
  fi
  say "kamailio: rendering config, syncing tables, starting (log: var/kamailio.log)"
  CP_KAMAILIO_RUN_DIR="$run" "$VENV/bin/controlplane" kamailio check >/dev/null
  "$VENV/bin/controlplane" kamailio sync --no-reload
  CP_KAMAILIO_RUN_DIR="$run" "$VENV/bin/controlplane" kamailio start --log "$VAR/kamailio.log"
  # Host firewall (nftables) limiting TCP connections per source; a kernel refusing nft must not fail `up`.
  local fw="${CP_KAMAILIO_FIREWALL:-1}"
  case "${fw,,}" in
    1|true|yes)
      if [ "$(id -u)" -eq 0 ]; then
        "$VENV/bin/controlplane" kamailio firewall || say "firewall: not applied (see the error above)"
      else
        say "firewall: not applied (not root; run: sudo $VENV/bin/controlplane kamailio firewall)"
      fi ;;
  esac
}

# Stop what `up` started (MariaDB and Redis stay: they may serve more than this stack).
stop_pidfile() {
  local name=$1 pidfile=$2 pid
  if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
    say "$name: stopping (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  else
    say "$name: not running"
  fi
  rm -f "$pidfile"
}

stop_all() {
  stop_pidfile jobs "$VAR/jobs.pid"
  stop_pidfile worker "$VAR/worker.pid"
  stop_pidfile controller "$VAR/controller.pid"
  stop_pidfile kamailio "${CP_KAMAILIO_RUN_DIR:-$VAR/kamailio}/kamailio.pid"
  stop_pidfile rtpengine "${CP_RTPENGINE_RUN_DIR:-$VAR/rtpengine}/rtpengine.pid"
  stop_pidfile web "$VAR/web.pid"
  if [ -x "$VENV/bin/controlplane" ] && [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null 2>&1; then
    "$VENV/bin/controlplane" kamailio firewall --remove >/dev/null 2>&1 && say "firewall: removed" || true
  fi
}

case "${1:-}" in
  down)
    stop_all ;;
  install)
    install_all ;;
  up)
    install_all
    prepare_database
    ensure_admin
    start_web
    start_rtpengine
    start_kamailio
    start_controller
    start_worker
    start_jobs
    say "stack is up: MariaDB, Redis, rtpengine, kamailio, web :${CP_WEB_PORT:-8080}, controller :${CP_CONTROLLER_PORT:-8084}, worker, jobs; API reference: /api/v1/docs"
    say "media nodes: render each FreeSWITCH node's config with 'controlplane freeswitch render --out DIR'" ;;
  test)
    install_all
    shift
    say "tests: ruff, then pytest"
    "$VENV/bin/ruff" check controlplane fs_standin tests bench setup.py
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: $0 up|down|test|install" >&2; exit 2 ;;
esac
