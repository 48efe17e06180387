#!/usr/bin/env bash
# A Docker engine for the container tests (test/docker), on a machine that may have none running:
#   scripts/docker-engine.sh up     install docker.io when missing (Debian/Ubuntu, root), start
#                                   dockerd when no engine answers, wait until `docker version` works
#   scripts/docker-engine.sh down   stop the dockerd that `up` started (and only that one)
# An engine that already runs (Docker Desktop, a systemd service) is used as is and never stopped.
# State: the pid of the dockerd we started, and its log, under ${PROJHEAD_DOCKERD_DIR:-/tmp/projhead-dockerd}.
set -euo pipefail
dir=${PROJHEAD_DOCKERD_DIR:-/tmp/projhead-dockerd}
pidfile=$dir/dockerd.pid

answers() { docker version >/dev/null 2>&1; }

up() {
  if command -v docker >/dev/null 2>&1 && answers; then
    echo "docker-engine: an engine is already running"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "docker-engine: docker.io is not installed (run as root, or: sudo apt-get install docker.io)" >&2; exit 1; }
    echo "docker-engine: installing docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    # Where no policy-rc.d forbids it, the package starts its init script's dockerd: ours too.
    for _ in $(seq 1 20); do answers || [ ! -e /var/run/docker.pid ] && break; sleep 0.5; done
    if answers; then
      mkdir -p "$dir"; echo initd >"$pidfile"
      echo "docker-engine: dockerd started by the docker.io package"
      return 0
    fi
  fi
  [ "$(id -u)" = 0 ] || { echo "docker-engine: no engine answers and starting dockerd needs root" >&2; exit 1; }
  mkdir -p "$dir"
  # No systemd here: run the daemon in the background, in its own session so that the caller's
  # Ctrl-C does not reach it; `down` stops it by its pid.
  setsid dockerd >"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    if answers; then echo "docker-engine: dockerd $(docker version -f '{{.Server.Version}}') started (pid $(cat "$pidfile"))"; return 0; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.5
  done
  echo "docker-engine: dockerd did not come up; its log:" >&2
  tail -n 30 "$dir/dockerd.log" >&2 || true
  exit 1
}

down() {
  [ -f "$pidfile" ] || { echo "docker-engine: no dockerd started by this script"; return 0; }
  pid=$(cat "$pidfile")
  if [ "$pid" = initd ]; then
    /etc/init.d/docker stop >/dev/null 2>&1 || true
    echo "docker-engine: dockerd (init script) stopped"
    rm -f "$pidfile"
    return 0
  fi
  # Only that dockerd: a stale pid file (machine restarted) may name another process by now.
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "docker-engine: dockerd (pid $pid) stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
