#!/usr/bin/env bash
# The image's entrypoint. Spark on Kubernetes starts the stream's pods with `driver ...` or `executor`
# (the Spark operator's spark-submit in cluster mode); Spark's own images answer those with their
# entrypoint.sh, which the pip-installed pyspark does not ship, so this does the same two things.
# Anything else (`readiness api`, `dagster-webserver ...`, `mlflow server ...`) runs as given.
set -euo pipefail

case "${1:-}" in
  driver)
    shift
    # the driver runs spark-submit in client mode inside its pod, bound to the pod's address
    exec "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    java_opts=()
    for v in "${!SPARK_JAVA_OPT_@}"; do java_opts+=("${!v}"); done
    classpath="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_HOME/jars/*${SPARK_EXTRA_CLASSPATH:+:$SPARK_EXTRA_CLASSPATH}"
    exec java "${java_opts[@]}" -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" -cp "$classpath" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" --podName "$SPARK_EXECUTOR_POD_NAME"
    ;;
  *)
    exec "$@"
    ;;
esac
