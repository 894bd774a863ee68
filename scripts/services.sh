#!/usr/bin/env bash
# The platform's local servers, on loopback, with their data under var/services (git-ignored):
#   PostgreSQL 15  127.0.0.1:${READINESS_PG_PORT:-55432}   (user/password/db: readiness)
#   Redis 7        127.0.0.1:${READINESS_REDIS_PORT:-56379}
# Usage: bash scripts/services.sh start|stop|status|urls
# `start` is idempotent (a server already up is left alone); `stop` stops what `start` started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/var/services
PG_PORT=${READINESS_PG_PORT:-55432}
REDIS_PORT=${READINESS_REDIS_PORT:-56379}
PG_BIN=/usr/lib/postgresql/15/bin
PG_DATA=$VAR/postgres
PG_RUN=$VAR/run
PG_DATABASES=(readiness dagster mlflow)

# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` account of the package.
pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

wait_for() {  # wait_for <what> <check-fn> <seconds>
  local what=$1 check=$2 n=$3
  for _ in $(seq 1 $((n * 10))); do "$check" && return 0; sleep 0.1; done
  echo "services: $what did not become ready in ${n}s; see its log under $VAR" >&2
  return 1
}

start_postgres() {
  [ -x "$PG_BIN/postgres" ] || { echo "services: PostgreSQL 15 is not installed; run: bash scripts/setup.sh" >&2; exit 1; }
  if pg_ready; then echo "postgres: already up on 127.0.0.1:$PG_PORT"; return; fi
  mkdir -p "$VAR" "$PG_RUN"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PG_RUN"; chmod 755 "$VAR"; fi
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
    pwfile=$(mktemp); echo readiness >"$pwfile"; chmod 644 "$pwfile"
    pg "$PG_BIN/initdb" --no-instructions -D "$PG_DATA" -U readiness --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8
    rm -f "$pwfile"
  fi
  pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_RUN/postgres.log" -w -t 30 start \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_RUN -c fsync=off -c max_connections=200" >/dev/null
  wait_for postgres pg_ready 30
  for db in "${PG_DATABASES[@]}"; do
    PGPASSWORD=readiness psql -q -h 127.0.0.1 -p "$PG_PORT" -U readiness -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
      PGPASSWORD=readiness psql -q -h 127.0.0.1 -p "$PG_PORT" -U readiness -d postgres -c "CREATE DATABASE $db"
  done
  echo "postgres: up on 127.0.0.1:$PG_PORT (databases: ${PG_DATABASES[*]})"
}

start_redis() {
  command -v redis-server >/dev/null || { echo "services: redis-server is not installed; run: bash scripts/setup.sh" >&2; exit 1; }
  if redis_ready; then echo "redis: already up on 127.0.0.1:$REDIS_PORT"; return; fi
  mkdir -p "$VAR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$VAR/redis" --daemonize yes \
    --pidfile "$VAR/redis.pid" --logfile "$VAR/redis.log" --save "" --appendonly no --protected-mode yes
  wait_for redis redis_ready 15
  echo "redis: up on 127.0.0.1:$REDIS_PORT"
}

stop_postgres() {
  if [ -s "$PG_DATA/postmaster.pid" ]; then pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
  echo "postgres: stopped"
}

stop_redis() {
  if redis_ready; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  echo "redis: stopped"
}

case "${1:-}" in
  start) start_postgres; start_redis ;;
  stop) stop_redis; stop_postgres ;;
  status)
    pg_ready && echo "postgres: up on 127.0.0.1:$PG_PORT" || echo "postgres: down"
    redis_ready && echo "redis: up on 127.0.0.1:$REDIS_PORT" || echo "redis: down" ;;
  urls)
    echo "DATABASE_URL=postgresql://readiness:readiness@127.0.0.1:$PG_PORT/readiness"
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" ;;
  *) echo "usage: $0 start|stop|status|urls" >&2; exit 2 ;;
esac
