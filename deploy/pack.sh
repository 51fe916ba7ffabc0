#!/usr/bin/env bash
# Build a relocatable Python environment archive with shardvec for Spark/Dask nodes.
#
#   deploy/pack.sh                      # -> ./env.tar.gz
#   deploy/pack.sh --output /tmp/shardvec-env.tar.gz --compress-level 1
#
# It makes a fresh virtual environment (never your own), installs this
# checkout into it *non-editable* with all its dependencies, and packs it with
# venv-pack, which it installs into a separate throw-away tools environment (the
# project does not depend on venv-pack). The archive path is printed on stdout.
#
# Use it with Spark (the executors unpack it as ./env):
#   spark-submit --archives env.tar.gz#env --conf spark.pyspark.python=./env/bin/python jobs/prepare.py ...
#
# LIMITATION (venv-pack): the archive holds the packages but NOT the Python
# interpreter: env/bin/python is a symlink to the base interpreter this script
# used (printed at the end). Every node must have that Python (same version) at
# that same path, or use --python-prefix to point the link at where Python lives
# on the nodes (e.g. /usr for Debian's python3.11, /usr/local for python:3.11
# images). If the nodes cannot guarantee that, use the container image instead
# (deploy/docker/Dockerfile). See deploy/README.md.
set -euo pipefail

PROG=pack.sh
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
usage: $PROG [--output FILE] [--python PY] [--venv DIR] [--compress-level N] [--python-prefix DIR]
             [--requirement SPEC]...

  --output FILE         archive to write (.tar.gz, .tgz, .zip, .tar) [default: env.tar.gz]
  --python PY           Python (>= 3.11) the environment is built from; a venv's python is
                        replaced by its base interpreter [default: \$PYTHON, else python3]
  --venv DIR            build the environment at DIR and keep it (must not exist)
                        [default: a temporary directory, removed afterwards]
  --compress-level N    gzip level 0-9; 1 is much faster for a ~1 GB environment [default: 4]
  --python-prefix DIR   prefix the packed env/bin/python links to on the nodes (venv-pack option)
  --requirement SPEC    also install SPEC (e.g. 'dask-kubernetes'); repeatable
EOF
}

log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 1; }

OUTPUT=env.tar.gz
PY=${PYTHON:-python3}
VENV=
LEVEL=4
PYTHON_PREFIX=
EXTRA=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --output|-o) OUTPUT=${2:?}; shift 2 ;;
        --python) PY=${2:?}; shift 2 ;;
        --venv) VENV=${2:?}; shift 2 ;;
        --compress-level) LEVEL=${2:?}; shift 2 ;;
        --python-prefix) PYTHON_PREFIX=${2:?}; shift 2 ;;
        --requirement|-r) EXTRA+=("${2:?}"); shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
[[ $LEVEL =~ ^[0-9]$ ]] || die "--compress-level must be 0-9"
[[ $PY == */* ]] || PY=$(command -v "$PY") || die "no Python found; pass --python"
# venv-pack links env/bin/python to the interpreter the venv was made from: use
# the real (base) interpreter, not another venv's python.
BASE=$("$PY" -c 'import sys; assert sys.version_info >= (3, 11), "shardvec needs Python 3.11+"; print(sys._base_executable)') \
    || die "$PY is not a usable Python 3.11+"

mkdir -p "$(dirname "$OUTPUT")"
OUTPUT=$(cd "$(dirname "$OUTPUT")" && pwd)/$(basename "$OUTPUT")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shardvec-pack.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [[ -z $VENV ]]; then
    VENV=$WORK/env
elif [[ -e $VENV ]]; then
    die "--venv $VENV already exists; give a new directory"
fi

pip_quiet() {  # PIP ARGS... -> run pip, its output in a log shown only on failure
    local pip=$1; shift
    if ! "$pip" install --disable-pip-version-check "$@" >"$WORK/pip.log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$WORK/pip.log" | tail -n 40 >&2
        die "pip install $* failed"
    fi
}

log "building a fresh environment at $VENV from $BASE"
"$BASE" -m venv "$VENV"

# Install from a clean copy of the sources, so nothing is written into the
# checkout (no build/ or egg-info) and nothing but the package goes in.
log "installing shardvec from $REPO (non-editable, with its dependencies)"
mkdir -p "$WORK/src"
sources=(pyproject.toml lib)
for optional in README.md LICENSE NOTICE setup.cfg; do
    [[ -e $REPO/$optional ]] && sources+=("$optional")
done
tar -C "$REPO" --exclude='*.egg-info' --exclude=__pycache__ --exclude='*.pyc' -cf - "${sources[@]}" | tar -C "$WORK/src" -xf -
pip_quiet "$VENV/bin/pip" "$WORK/src" "${EXTRA[@]}"
# The environment must stand alone: every shardvec module imports with only
# the declared dependencies (an undeclared one would fail later, on an executor).
"$VENV/bin/python" - "$VENV" <<'EOF' || die "the new environment is incomplete (see above)"
import importlib, os, pkgutil, sys
import shardvec
here = os.path.realpath(os.path.dirname(shardvec.__file__))
assert here.startswith(os.path.realpath(sys.argv[1])), f"shardvec imported from {here}, not from the new environment"
failed = []
for mod in pkgutil.walk_packages(shardvec.__path__, "shardvec."):
    try:
        importlib.import_module(mod.name)
    except ImportError as exc:
        failed.append(f"{mod.name}: {exc}")
for line in failed:
    print(f"pack.sh: {line} (a dependency missing from pyproject.toml?)", file=sys.stderr)
sys.exit(1 if failed else 0)
EOF

log "installing venv-pack into a separate tools environment"
"$BASE" -m venv "$WORK/tools"
pip_quiet "$WORK/tools/bin/pip" venv-pack

log "packing $VENV -> $OUTPUT (compress level $LEVEL)"
args=(--prefix "$VENV" --output "$OUTPUT" --compress-level "$LEVEL" --force --quiet)
[[ -n $PYTHON_PREFIX ]] && args+=(--python-prefix "$PYTHON_PREFIX")
"$WORK/tools/bin/venv-pack" "${args[@]}"
chmod 644 "$OUTPUT"

log "done: $(du -h "$OUTPUT" | cut -f1) archive; env/bin/python links to ${PYTHON_PREFIX:-$(dirname "$(dirname "$BASE")")}/bin/python$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])'), which every node must have"
echo "$OUTPUT"
