#!/usr/bin/env bash
# shardvec prepare on YARN: spark-submit with the environment archive from deploy/pack.sh.
#
#   deploy/pack.sh --output env.tar.gz                 # once per release; upload it to HDFS to share it
#   HADOOP_CONF_DIR=/etc/hadoop/conf deploy/yarn/prepare.sh /shared/raw /shared/work/corpus [--set k=v ...]
#
# Executors (and, in cluster mode, the driver in the YARN application master)
# unpack the archive as ./env and run ./env/bin/python. The archive holds the
# packages, not the interpreter: every NodeManager needs the same Python at the
# same path as where the archive was built (see deploy/pack.sh), or use
# Spark on Kubernetes with the container image.
#
# shardvec reads its input and writes its output through local paths
# (file://): INPUT and OUTPUT must be on a POSIX file system that the driver
# and every NodeManager mount at the same path (NFS, Lustre, ...), not HDFS.
# Not exercised here (no YARN cluster); tests/test_deploy_static.py checks the
# flags against spark-submit --help and shardvec prepare --help.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

INPUT=${1:?usage: deploy/yarn/prepare.sh INPUT OUTPUT [shardvec prepare options...]}
OUTPUT=${2:?usage: deploy/yarn/prepare.sh INPUT OUTPUT [shardvec prepare options...]}
shift 2
: "${HADOOP_CONF_DIR:?set HADOOP_CONF_DIR to the directory with yarn-site.xml and core-site.xml}"
ARCHIVE=${ARCHIVE:-env.tar.gz}              # local file, or hdfs:///apps/shardvec/env.tar.gz
DEPLOY_MODE=${DEPLOY_MODE:-cluster}         # client: the driver runs here, with this machine's Python

driver_python=()
if [[ $DEPLOY_MODE == client ]]; then
    # The driver runs on this machine: its Python is the local one with shardvec installed.
    driver_python=(--conf "spark.pyspark.driver.python=$(command -v python3)")
fi

# Shuffle partitions go through shardvec's config (--set spark.shuffle_partitions): it sets
# spark.sql.shuffle.partitions itself, so a --conf for it here would be overridden.
exec spark-submit \
    --master yarn \
    --deploy-mode "$DEPLOY_MODE" \
    --name shardvec-prepare \
    --archives "$ARCHIVE#env" \
    --conf spark.pyspark.python=./env/bin/python \
    --conf spark.yarn.appMasterEnv.PYSPARK_PYTHON=./env/bin/python \
    "${driver_python[@]}" \
    --driver-memory 4g \
    --num-executors 16 \
    --executor-cores 4 \
    --executor-memory 8g \
    --conf spark.executor.memoryOverhead=2g \
    jobs/prepare.py --input "$INPUT" --output "$OUTPUT" \
    --set spark.shuffle_partitions=400 "$@"
