"""Where a warm plain-text prepare run's CPU goes: Python workers, the JVM, the driver.

Not run by the tests. ``bench/prepare_bench.py`` gives wall time and each
Python step's rate; this script answers the question those leave open: how
many core-seconds the whole run costs and which process spends them, which
bounds what faster Python steps alone can buy. It runs the plain-text path
(``--format text``, no lineage) on ``prepare_bench``'s input ``--runs`` times
in one Spark ``local[2]`` session (the first run pays the JVM's warm-up) and
reads each process's CPU time (its own and its reaped children's) from
``/proc`` before and after each run, and the workers' system time and minor
page faults. Linux only.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_cpu.py [--mb 100] [--runs 3]
    ... bench/prepare_cpu.py --runs 7 --copies 1 2   # 1, 2, 1, 2, ... copies of the input, in turn

``--copies``: run ``k`` reads the input ``copies[k % len(copies)]`` times
over (copies of the files on disk: the input listing resolves links): the cost of twice the
text of the same make-up, so that the difference of two warm runs is the
CPU that more input costs, without what a run costs whatever its size
(planning, the workers' imports, the manifest).

``--dedup``: the runs take the dedup modes given in turn, starting with the
first (each comma-separated, ``none`` for none), so that warm runs with and
without a mode, side by side in one session, give what the mode costs. ``--web``: the
web path instead (``--web-mb`` of WARC files of real HTML pages, language id
``en`` and the quality rules on, as ``bench/prepare_bench.py`` runs it).

    ... bench/prepare_cpu.py --web --runs 8 --dedup none near   # what near dedup costs on web pages

``--jit``: the JVMs' compiler (``spark.jit``); by default what ``shardvec
prepare`` picks for these runs. ``--one-file SHARE``: the input's first files,
up to this share of its bytes, joined into one file, so that the input is
skewed and its documents are spread over the tasks by a shuffle.

    ... bench/prepare_cpu.py --runs 4 --jit quick   # then --jit tiered: what C1 alone saves
    ... bench/prepare_cpu.py --runs 4 --one-file 0.85 --jit tiered   # a skewed input
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realtext  # noqa: E402
from prepare_bench import (as_the_command_would, link_dir, pick_inputs, plain_path_config, run_prepare,  # noqa: E402
                           web_path_config)


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system, with reaped children) of the JVM, the PySpark workers and this driver; and
    the workers' system seconds and minor page faults (``workers sys``, ``workers faults``)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(proc.name) == os.getpid():
            kind = "driver"
        elif command[0].endswith(b"java"):
            kind = "jvm"
        elif b"pyspark" in b" ".join(command):
            kind = "python workers"
        else:
            continue
        # fields 11-14 of the part after the name: utime, stime, cutime, cstime
        seconds[kind] = seconds.get(kind, 0.0) + sum(int(f) for f in fields[11:15]) / tick
        if kind == "python workers":  # fields 7 and 8: minflt, cminflt; 12 and 14: stime, cstime
            seconds["workers sys"] = seconds.get("workers sys", 0.0) + (int(fields[12]) + int(fields[14])) / tick
            seconds["workers faults"] = seconds.get("workers faults", 0.0) + int(fields[7]) + int(fields[8])
    return seconds


def copied(files: list[Path], n: int, root: Path) -> list[Path]:
    """``files`` and ``n - 1`` copies of them under ``root`` (a second link would be the same file to prepare)."""
    out = list(files)
    for k in range(1, n):
        folder = root / f"copy-{k}"
        folder.mkdir(exist_ok=True)
        for i, f in enumerate(files):
            out.append(folder / f"{i:05d}-{f.name}")
            if not out[-1].exists():
                shutil.copyfile(f, out[-1])
    return out


def joined(files: list[Path], share: float, root: Path) -> list[Path]:
    """``files`` with the first of them, up to ``share`` of all their bytes, joined into one plain-text file
    (each decompressed, and ended by a line break)."""
    from shardvec.readers.fs import open_input

    total, kept, one = sum(f.stat().st_size for f in files), 0, root / "joined.txt"
    with one.open("wb") as out:
        for i, f in enumerate(files):
            if kept >= share * total:
                return [one, *files[i:]]
            with open_input(str(f), {}) as fh:
                text = fh.read()
            out.write(text if text.endswith(b"\n") else text + b"\n")
            kept += f.stat().st_size
    return [one]


def run_config(spark, web: bool, dedup: str):  # type: ignore[no-untyped-def]
    """A run's config: the plain-text or the web path, with ``dedup``'s modes (comma-separated, or ``none``)."""
    config = web_path_config(spark) if web else plain_path_config(spark)
    config.prepare.dedup.modes = [] if dedup == "none" else dedup.split(",")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=100, help="input size in MB (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="runs in one session (default 3)")
    parser.add_argument("--copies", type=int, nargs="+", default=[1], help="copies of the input, run by run in turn")
    parser.add_argument("--dedup", nargs="+", default=["none"],
                        help="dedup modes, comma-separated, run by run in turn (default none)")
    parser.add_argument("--web", action="store_true", help="the web path: WARC files of HTML pages")
    parser.add_argument("--jit", choices=("auto", "quick", "tiered"), default="auto",
                        help="the JVMs' compiler (spark.jit; default auto: what shardvec prepare picks)")
    parser.add_argument("--one-file", type=float, default=0.0, help="share of the input joined into one file")
    parser.add_argument("--web-mb", type=float, default=100, help="WARC input size in MB with --web (default 100)")
    args = parser.parse_args()

    from shardvec.config import Config
    from shardvec.spark.session import spark_session

    files = realtext.warc_sample(args.web_mb) if args.web else pick_inputs(args.mb)
    mb = sum(f.stat().st_size for f in files) / 2 ** 20
    with tempfile.TemporaryDirectory(prefix="prepare-cpu-") as tmp:
        root = Path(tmp)
        files = joined(files, args.one_file, root) if args.one_file else files
        inputs = {n: link_dir(copied(files, n, root), root / f"copies-{n}") for n in set(args.copies)}
        config = Config()
        config.spark.master, config.spark.jit = "local[2]", args.jit
        # The JVM loads its classes as a first run on a new machine does, not from an archive an earlier run
        # left in ~/.cache (spark.class_archive; its effect is measured on the whole command instead).
        config.spark.class_archive = False
        # Run k: its copies of the input, its dedup modes, its config.
        turns = [(args.copies[k % len(args.copies)], args.dedup[k % len(args.dedup)]) for k in range(args.runs)]
        runs = [(copies, dedup, run_config(config.spark, args.web, dedup)) for copies, dedup in turns]
        spark_session(config.spark, as_the_command_would(
            [(run, sorted(inputs[copies].iterdir())) for copies, _, run in runs]))
        print(f"{mb:.1f} MB in {len(files)} files, {'web' if args.web else 'plain-text'} path, Spark local[2]\n")
        print("| run | input MB | dedup | wall s | python workers | jvm | driver | all core-s "
              "| MB/s per core of all CPU | workers' system s | workers' page faults |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for run, (copies, dedup, this_config) in enumerate(runs, start=1):
            before, started = cpu_by_process(), time.perf_counter()
            run_prepare(this_config, inputs[copies], root / f"out-{run}")
            wall, after = time.perf_counter() - started, cpu_by_process()
            spent = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in ("python workers", "jvm", "driver")}
            total = sum(spent.values())
            system, faults = (after.get(k, 0.0) - before.get(k, 0.0) for k in ("workers sys", "workers faults"))
            print(f"| {run} | {mb * copies:.1f} | {dedup} | {wall:.2f} | "
                  + " | ".join(f"{v:.2f}" for v in spent.values())
                  + f" | {total:.2f} | {mb * copies / total:.1f} | {system:.2f} | {faults:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
