#!/usr/bin/env bash
# The platform's local servers, on loopback, with their data under var/services (git-ignored):
#   PostgreSQL 15  127.0.0.1:${READINESS_PG_PORT:-55432}   (user/password/db: readiness)
#   Redis 7        127.0.0.1:${READINESS_REDIS_PORT:-56379}
#   Kafka 4.2      127.0.0.1:${READINESS_KAFKA_PORT:-59092}, its KRaft controller on ${READINESS_KAFKA_CONTROLLER_PORT:-59093}
#                  (one node; jars: .jars-kafka/ from jvm/kafka/pom.xml; data, logs and pid under
#                  ${READINESS_KAFKA_DIR:-var/services/kafka})
# Usage: bash scripts/services.sh start|stop|status|urls [postgres|redis|kafka ...]   (default: all three)
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
KAFKA_PORT=${READINESS_KAFKA_PORT:-59092}
KAFKA_CONTROLLER_PORT=${READINESS_KAFKA_CONTROLLER_PORT:-59093}
KAFKA_DIR=${READINESS_KAFKA_DIR:-$VAR/kafka}
KAFKA_JARS=$ROOT/.jars-kafka
# A small broker for a 2-core machine that also runs Spark.
KAFKA_HEAP_OPTS=${READINESS_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}

# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` account of the package.
pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
kafka_pid() {  # the recorded broker's pid, if that process is still a broker (a pid can be reused)
  local pid
  pid=$(cat "$KAFKA_DIR/kafka.pid" 2>/dev/null) && [ -n "$pid" ] &&
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q "kafka\.Kafka " && echo "$pid"
}
# Up: the listener accepts connections and, for a broker this script started, its start-up has finished.
kafka_ready() {
  (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null || return 1
  if kafka_pid >/dev/null; then grep -qs "Kafka Server started" "$KAFKA_DIR/logs/server.log"; fi
}

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

kafka_java() {  # kafka_java <main class> <args...>: a JVM on the jars of jvm/kafka/pom.xml
  # (KAFKA_EXEC=exec: the JVM replaces the calling subshell, so its pid is the one recorded)
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM options
  ${KAFKA_EXEC:-} java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/jvm/kafka/log4j2.properties" -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    -cp "$KAFKA_JARS/*" "$@"
}

kafka_properties() {  # written at every start, so ports and paths follow the environment
  cat <<PROPERTIES
# Written by scripts/services.sh at each start: one KRaft node (broker and controller) on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The platform creates its topics with their partitioning (readiness kafka topics), never a typo.
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
group.initial.rebalance.delay.ms=0
PROPERTIES
}

start_kafka() {
  command -v java >/dev/null || { echo "services: java is not installed (Kafka needs Java 17+)" >&2; exit 1; }
  compgen -G "$KAFKA_JARS/kafka_2.13-*.jar" >/dev/null ||
    { echo "services: the Kafka jars are missing from $KAFKA_JARS; run: bash scripts/setup.sh" >&2; exit 1; }
  if kafka_ready; then echo "kafka: already up on 127.0.0.1:$KAFKA_PORT"; return; fi
  if ! kafka_pid >/dev/null; then
    mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
    kafka_properties >"$KAFKA_DIR/server.properties"
    if [ ! -s "$KAFKA_DIR/data/meta.properties" ]; then  # first start: format the log folder (KRaft)
      [ -s "$KAFKA_DIR/cluster.id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id"
      kafka_java kafka.tools.StorageTool format --standalone --cluster-id "$(cat "$KAFKA_DIR/cluster.id")" \
        --config "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/kafka.out" 2>&1 ||
        { echo "services: formatting Kafka's storage failed; see $KAFKA_DIR/kafka.out" >&2; exit 1; }
    fi
    : >"$KAFKA_DIR/logs/server.log"  # kafka_ready waits for this start's "started" line
    KAFKA_EXEC=exec kafka_java kafka.Kafka "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/kafka.out" 2>&1 </dev/null &
    echo $! >"$KAFKA_DIR/kafka.pid"
    disown
  fi
  wait_for kafka kafka_ready 90
  echo "kafka: up on 127.0.0.1:$KAFKA_PORT (controller on $KAFKA_CONTROLLER_PORT, data in $KAFKA_DIR)"
}

stop_kafka() {
  local pid
  if pid=$(kafka_pid); then
    kill "$pid"  # a controlled shutdown: logs flushed and closed, no recovery at the next start
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "kafka: no clean shutdown in 30 s, killing $pid" >&2; kill -9 "$pid"; fi
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
  echo "kafka: stopped"
}

stop_postgres() {
  if [ -s "$PG_DATA/postmaster.pid" ]; then pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true; fi
  echo "postgres: stopped"
}

stop_redis() {
  if redis_ready; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  echo "redis: stopped"
}

ACTION=${1:-}
SERVICES=("${@:2}")
for svc in "${SERVICES[@]}"; do
  case "$svc" in postgres|redis|kafka) ;; *) echo "services: unknown service '$svc' (postgres, redis, kafka)" >&2; exit 2 ;; esac
done
want() { [ ${#SERVICES[@]} -eq 0 ] || [[ " ${SERVICES[*]} " == *" $1 "* ]]; }

case "$ACTION" in
  start) ! want postgres || start_postgres; ! want redis || start_redis; ! want kafka || start_kafka ;;
  stop) ! want kafka || stop_kafka; ! want redis || stop_redis; ! want postgres || stop_postgres ;;
  status)
    if want postgres; then pg_ready && echo "postgres: up on 127.0.0.1:$PG_PORT" || echo "postgres: down"; fi
    if want redis; then redis_ready && echo "redis: up on 127.0.0.1:$REDIS_PORT" || echo "redis: down"; fi
    if want kafka; then kafka_ready && echo "kafka: up on 127.0.0.1:$KAFKA_PORT" || echo "kafka: down"; fi ;;
  urls)
    echo "DATABASE_URL=postgresql://readiness:readiness@127.0.0.1:$PG_PORT/readiness"
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "READINESS_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT" ;;
  *) echo "usage: $0 start|stop|status|urls [postgres|redis|kafka ...]" >&2; exit 2 ;;
esac
