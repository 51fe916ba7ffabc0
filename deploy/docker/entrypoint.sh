#!/usr/bin/env bash
# Entry point of the shardvec image.
#
#   driver ARGS...    Spark on Kubernetes driver pod (what spark-submit --deploy-mode cluster
#                     and the Spark operator start): runs spark-submit in client mode in the pod
#   executor          Spark on Kubernetes executor pod: the executor backend, configured by
#                     the SPARK_* variables Spark sets on the pod
#   anything else     run as given: `shardvec train ...`, `python /opt/shardvec/jobs/train.py ...`,
#                     `dask scheduler`, `dask worker ...` (what the Dask operator passes as args)
set -euo pipefail

# Spark and Hadoop want a user name; arbitrary uids (OpenShift) have none.
if ! getent passwd "$(id -u)" >/dev/null 2>&1 && [[ -w /etc/passwd ]]; then
    echo "$(id -u):x:$(id -u):$(id -g):spark:${HOME:-/tmp}:/bin/false" >>/etc/passwd
fi

classpath() {
    local cp="${SPARK_HOME}/jars/*"
    [[ -n ${SPARK_CONF_DIR:-} ]] && cp="${SPARK_CONF_DIR}:${cp}"
    [[ -n ${HADOOP_CONF_DIR:-} ]] && cp="${HADOOP_CONF_DIR}:${cp}"
    [[ -n ${SPARK_EXTRA_CLASSPATH:-} ]] && cp="${cp}:${SPARK_EXTRA_CLASSPATH}"
    echo "$cp"
}

case "${1:-}" in
    driver)
        shift
        exec /usr/bin/tini -s -- "${SPARK_HOME}/bin/spark-submit" \
            --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" \
            --deploy-mode client "$@"
        ;;
    executor)
        shift
        # Java options Spark passes as SPARK_JAVA_OPT_0, _1, ... in order.
        mapfile -t java_opts < <(env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^[^=]*=//')
        exec /usr/bin/tini -s -- "${JAVA_HOME}/bin/java" "${java_opts[@]}" \
            -Xms"${SPARK_EXECUTOR_MEMORY}" -Xmx"${SPARK_EXECUTOR_MEMORY}" -cp "$(classpath)" \
            org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
            --driver-url "${SPARK_DRIVER_URL}" --executor-id "${SPARK_EXECUTOR_ID}" \
            --cores "${SPARK_EXECUTOR_CORES}" --app-id "${SPARK_APPLICATION_ID}" \
            --hostname "${SPARK_EXECUTOR_POD_IP}" --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
            --podName "${SPARK_EXECUTOR_POD_NAME}"
        ;;
    "")
        exec shardvec --help
        ;;
    *)
        exec /usr/bin/tini -s -- "$@"
        ;;
esac
