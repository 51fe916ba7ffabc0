"""Static checks of the deployment files that cannot run here (no YARN, Kubernetes, Slurm or Docker).

What can be checked without those systems is checked: every shell script
parses (``bash -n``); every YAML document parses and has the keys its operator
requires; every command they run names a file that exists in the repository
(or in the image, mapped through the Dockerfile's COPY lines), and every flag
it passes exists, checked against the real parsers: ``shardvec <cmd>`` from
:func:`shardvec.cli.build_parser`, ``--set`` values through the real config
loader, ``dask scheduler/worker --help`` and ``spark-submit --help``.
Nothing here proves the files work on those systems; deploy/README.md says so.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from shardvec.cli import build_parser
from shardvec.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
IMAGE_ROOT = "/opt/shardvec/"
SEPARATORS = {"&&", "||", ";", "|", "&", ">", ">>", "2>", "<"}

yaml = pytest.importorskip("yaml")  # PyYAML comes with dask


# ------------------------------------------------------------------ the real parsers
@lru_cache(maxsize=None)
def shardvec_flags(command: str) -> frozenset[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return frozenset(sub.choices[command]._option_string_actions)


def _help_flags(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))


@lru_cache(maxsize=None)
def dask_flags(command: str) -> frozenset[str]:
    out = subprocess.run([sys.executable, "-m", "dask", command, "--help"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return _help_flags(out)


@lru_cache(maxsize=None)
def spark_submit_flags() -> frozenset[str]:
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    proc = subprocess.run([os.path.join(home, "bin", "spark-submit"), "--help"], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "SPARK_HOME": home})
    flags = _help_flags(proc.stdout + proc.stderr)
    assert "--archives" in flags, proc.stderr
    return flags


# ------------------------------------------------------------------ finding commands
def shell_commands(path: Path) -> list[list[str]]:
    """The simple commands of a shell script, tokenized (heredoc bodies and comments dropped)."""
    lines, heredoc = [], None
    for line in path.read_text().splitlines():
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", line)
        if m:
            heredoc = m.group(1)
        lines.append(line)
    text = "\n".join(lines).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens, current = list(lexer), []
        for tok in tokens:
            if tok in SEPARATORS or set(tok) <= set(";&|<>"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(tok)
        if current:
            commands.append(current)
    return commands


def job_invocations(tokens: list[str]) -> list[tuple[str, list[str], str]]:
    """(shardvec command, its arguments, script) for each jobs/<cmd>.py or `shardvec <cmd>` in tokens."""
    found = []
    for i, tok in enumerate(tokens):
        m = re.search(r"(?:^|/|\$\{?)jobs\}?/(\w+)\.py$", tok, re.I)
        if m:
            found.append((m.group(1), tokens[i + 1:], tok))
        elif Path(tok).name == "shardvec" and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            found.append((tokens[i + 1], tokens[i + 2:], tok))
    return found


def check_shardvec_args(command: str, args: list[str], where: str) -> None:
    flags = shardvec_flags(command)
    sets = []
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            assert flag in flags, f"{where}: `shardvec {command}` has no flag {flag}"
            if flag == "--set":
                sets.append(arg.split("=", 1)[1] if "=" in arg else args[i + 1])
            if flag == "--config":
                path = arg.split("=", 1)[1] if "=" in arg else args[i + 1]
                assert image_path_exists(path), f"{where}: --config {path} does not exist"
    # Every --set must name a real key with a value of the right type; shell
    # variables stand for values we cannot know, so they are replaced by a sample.
    concrete = [re.sub(r"\$\{?\w+\}?", "1", s) for s in sets]
    load_config(None, concrete, environ={})


def script_path_exists(script: str) -> None:
    """A jobs/ script named in a command is in the repository (mapped from the image)."""
    assert image_path_exists(script), f"{script} is not a file in the repository"


def image_path_exists(path: str) -> bool:
    path = path.removeprefix("local://")
    if path.startswith(IMAGE_ROOT):
        rel = path[len(IMAGE_ROOT):]
        top = rel.split("/")[0]
        assert top in dockerfile_copied(), f"{path}: the Dockerfile does not COPY {top}/ into {IMAGE_ROOT}"
        return (REPO / rel).exists()
    path = re.sub(r"^\$\{?\w+\}?/", "", path)  # "$JOBS/train.py" and the like: relative to the repo
    return (REPO / path).exists() or (REPO / "jobs" / Path(path).name).exists()


# ------------------------------------------------------------------ Dockerfile
@lru_cache(maxsize=None)
def dockerfile_copied() -> frozenset[str]:
    """Top-level names the Dockerfile copies to /opt/shardvec/<name>/."""
    tops = set()
    for line in (DEPLOY / "docker" / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"]:
            dest = parts[-1]
            if dest.startswith(IMAGE_ROOT):
                tops.add(dest[len(IMAGE_ROOT):].split("/")[0])
    return frozenset(tops)


def test_dockerfile() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert re.match(r"FROM python:3\.11-slim", instructions[0])
    assert "openjdk-17-jre-headless" in text
    for line in instructions:
        parts = line.split()
        if parts[0] == "COPY":
            for src in parts[1:-1]:
                assert (REPO / src).exists(), f"COPY source {src} missing from the repository"
    assert re.search(r"pip install /opt/shardvec/build\b", text) and "pip install -e" not in text
    assert {"jobs", "conf"} <= dockerfile_copied()
    entry = re.search(r'ENTRYPOINT \["([^"]+)"\]', text).group(1)
    assert f"COPY deploy/docker/entrypoint.sh {entry}" in text
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text()
    for needed in ("pyproject.toml", "lib/", "jobs/", "conf/", "deploy/docker/entrypoint.sh"):
        assert f"!{needed}" in ignore


def test_entrypoint_handles_spark_on_kubernetes_modes() -> None:
    text = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert "driver)" in text and "executor)" in text
    assert "KubernetesExecutorBackend" in text and "--deploy-mode client" in text


# ------------------------------------------------------------------ shell scripts
SHELL_SCRIPTS = sorted([*DEPLOY.rglob("*.sh"), *DEPLOY.rglob("*.sbatch")])


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_script_parses(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(script, os.X_OK), f"{script} is not executable"


def test_slurm_batch_script() -> None:
    script = DEPLOY / "slurm" / "train.sbatch"
    text = script.read_text()
    assert re.search(r"^#SBATCH --nodes=\d+", text, re.M)
    commands = shell_commands(script)
    checked = {"scheduler": 0, "worker": 0, "train": 0}
    for tokens in commands:
        for i, tok in enumerate(tokens[:-1]):
            if tok == "dask" and tokens[i + 1] in ("scheduler", "worker"):
                cmd = tokens[i + 1]
                for arg in tokens[i + 2:]:
                    if arg.startswith("--"):
                        assert arg.split("=")[0] in dask_flags(cmd), f"`dask {cmd}` has no flag {arg}"
                checked[cmd] += 1
        for command, args, script_name in job_invocations(tokens):
            script_path_exists(script_name)
            check_shardvec_args(command, args, str(script))
            checked[command] = checked.get(command, 0) + 1
    assert checked["scheduler"] == checked["worker"] == checked["train"] == 1, checked


def test_yarn_submit_script() -> None:
    script = DEPLOY / "yarn" / "prepare.sh"
    submits = [t for t in shell_commands(script) if "spark-submit" in t]
    assert len(submits) == 1
    tokens = submits[0][submits[0].index("spark-submit") + 1:]
    app = next(i for i, t in enumerate(tokens) if t.endswith(".py"))
    for tok in tokens[:app]:
        if tok.startswith("--"):
            assert tok in spark_submit_flags(), f"spark-submit has no flag {tok}"
    assert tokens[tokens.index("--master") + 1] == "yarn"
    assert any(t.startswith("$ARCHIVE#env") or t.endswith("#env") for t in tokens[:app])
    (command, args, script_name), = job_invocations(tokens)
    assert command == "prepare"
    script_path_exists(script_name)
    check_shardvec_args(command, args, str(script))


def test_local_cluster_and_pack_scripts_document_their_usage() -> None:
    for name in ("local/cluster.sh", "pack.sh"):
        proc = subprocess.run(["bash", str(DEPLOY / name), "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr


# ------------------------------------------------------------------ Kubernetes
def k8s_docs() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_kubernetes_manifests_parse_and_have_required_keys() -> None:
    docs = k8s_docs()
    kinds = sorted(d["kind"] for _, d in docs)
    assert kinds == ["DaskJob", "Job", "Job", "PersistentVolumeClaim", "SparkApplication"]
    for path, doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"] and doc["metadata"]["namespace"] == "shardvec", path
    claims = {d["metadata"]["name"] for _, d in docs if d["kind"] == "PersistentVolumeClaim"}
    for path, doc in docs:
        for text in re.findall(r"claimName: (\S+)", yaml.safe_dump(doc)):
            assert text in claims, f"{path}: volume claim {text} is not defined"


def test_spark_application() -> None:
    (path, app), = [(p, d) for p, d in k8s_docs() if d["kind"] == "SparkApplication"]
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    spec = app["spec"]
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    for key in ("image", "sparkVersion", "mainApplicationFile", "driver", "executor"):
        assert key in spec, key
    for role in ("driver", "executor"):
        assert {"cores", "memory"} <= set(spec[role]), role
        mounts = {m["name"] for m in spec[role]["volumeMounts"]}
        assert mounts <= {v["name"] for v in spec["volumes"]}
    assert spec["executor"]["instances"] >= 1 and "serviceAccount" in spec["driver"]
    main = spec["mainApplicationFile"]
    assert main == "local:///opt/shardvec/jobs/prepare.py"
    script_path_exists(main)
    check_shardvec_args("prepare", [str(a) for a in spec["arguments"]], str(path))
    assert "--master" not in spec["arguments"]  # the operator's k8s:// master must win


def test_dask_job() -> None:
    (path, job), = [(p, d) for p, d in k8s_docs() if d["kind"] == "DaskJob"]
    assert job["apiVersion"] == "kubernetes.dask.org/v1"
    (runner,) = job["spec"]["job"]["spec"]["containers"]
    args = [str(a) for a in runner["args"]]
    (command, rest, script), = job_invocations(args)
    assert command == "train" and args[0] == "python"
    assert "--scheduler" not in rest  # the operator injects DASK_SCHEDULER_ADDRESS
    script_path_exists(script)
    check_shardvec_args(command, rest, str(path))
    cluster = job["spec"]["cluster"]["spec"]
    assert cluster["worker"]["replicas"] >= 1
    for role, cmd in (("worker", "worker"), ("scheduler", "scheduler")):
        (container,) = cluster[role]["spec"]["containers"]
        cargs = [str(a) for a in container["args"]]
        assert cargs[:2] == ["dask", cmd]
        for arg in cargs[2:]:
            if arg.startswith("--"):
                assert arg in dask_flags(cmd), f"`dask {cmd}` has no flag {arg}"
    ports = {p["port"] for p in cluster["scheduler"]["service"]["ports"]}
    assert 8786 in ports
    assert cluster["scheduler"]["service"]["selector"]["dask.org/cluster-name"] == job["metadata"]["name"]


def test_finetune_and_evaluate_jobs() -> None:
    jobs = [(p, d) for p, d in k8s_docs() if d["kind"] == "Job"]
    seen = set()
    for path, job in jobs:
        assert job["apiVersion"] == "batch/v1"
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] in ("Never", "OnFailure")
        for container in pod["containers"]:
            args = [str(a) for a in container["args"]]
            (command, rest, script), = job_invocations(args)
            script_path_exists(script)
            check_shardvec_args(command, rest, str(path))
            seen.add(command)
    assert seen == {"finetune", "evaluate"}


# ------------------------------------------------------------------ README
def test_readme_covers_every_target_and_names_real_files() -> None:
    text = (DEPLOY / "README.md").read_text()
    for heading in ("Local cluster", "YARN", "Kubernetes", "Slurm", "Docker", "TLS", "S3"):
        assert re.search(rf"^#+ .*{heading}", text, re.M), f"deploy/README.md has no section on {heading}"
    for name in set(re.findall(r"(?<![\w./-])((?:deploy|jobs|conf|tests)/[\w./-]*\w)(?![\w*./-])", text)):
        assert (REPO / name).exists(), f"deploy/README.md names {name}, which does not exist"
    assert "--tls-ca-file" in text and "distributed.comm.tls" in text and "tls://" in text
    assert "hadoop-aws" in text and "fs.s3a" in text
