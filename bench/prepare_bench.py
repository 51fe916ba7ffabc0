"""Prepare throughput on ~100 MB of real text: Spark local[2] beside one Python process.

Not run by the tests. Measures, in one run and on the same input files (MB/s
of input bytes as stored):

1. ``spark.read.text(...).count()``: the I/O floor of this Spark;
2. ``shardvec prepare`` end to end with the default configuration;
3. the plain-text path alone (``--format text``, no lineage): read ->
   normalize -> tokenize -> vocab -> shards; then three runs more of it, the
   median of which is what each further 100 MB of a long job costs;
4. the web path (``--web-mb`` of WARC files of real HTML pages, built by
   ``bench/realtext.py``): WARC -> HTML extraction -> normalize -> language
   id (en) -> quality rules -> tokenize -> vocab -> shards, no lineage;
5. a single-process pure-Python pipeline doing the same plain-text steps with
   the same library functions (``read_file``, ``normalize_text``,
   ``sentences_from_text``, ``block_size``), dealing sentences to shards
   one by one as a hand-written script would.

For the Spark runs the table also gives the manifest's ``throughput``: each
Python step's MB/s per core (``bench/prepare_steps.py`` profiles the steps
alone, beside their bare-library floors).

The text comes from Debian packages and the Brown Corpus via
``bench/realtext.py`` (fetched at bench time, never committed): the plain-text
sources first, then real HTML pages until the target size is reached.

    flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_bench.py [--mb 100] [--web-mb 100]

(the lock keeps two benchmarks from sharing the machine; the script also
waits, up to ten minutes, for the load average to fall below 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import realtext  # noqa: E402
import results  # noqa: E402

from shardvec.logs import show_progress  # noqa: E402

SECTION = "## Prepare stage"


def wait_for_quiet(limit_s: float) -> float:
    """Wait until the 1-minute load average is below 1.5 (or ``limit_s`` passes); return it."""
    deadline = time.monotonic() + limit_s
    while (load := os.getloadavg()[0]) >= 1.5 and time.monotonic() < deadline:
        time.sleep(15)
    if load >= 1.5:
        print(f"[bench] warning: load average {load:.2f} >= 1.5; the figures will be noisy", file=sys.stderr)
    return load


def pick_inputs(target_mb: float) -> list[Path]:
    """Plain-text sources, then HTML pages, until ``target_mb`` of stored bytes."""
    chosen, total = [], 0
    for path in realtext.text_inputs() + realtext.html_inputs():
        if total >= target_mb * 2 ** 20:
            break
        chosen.append(path)
        total += path.stat().st_size
    return chosen


def link_dir(files: list[Path], root: Path) -> Path:
    """One directory of symlinks, so every run gets the same single ``--input``."""
    d = root / "inputs"
    d.mkdir(parents=True)
    for i, f in enumerate(files):
        (d / f"{i:05d}-{f.name}").symlink_to(f)
    return d


def pure_python(files: list[Path], n_shards: int, out: Path, min_count: int) -> dict[str, float]:
    """The plain-text path in one process; returns seconds per step."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shardvec.corpus import SHARD_SCHEMA, Vocab
    from shardvec.readers import Document, ReaderSettings, read_file
    from shardvec.spark.shards import block_size
    from shardvec.text.normalize import normalize_text
    from shardvec.text.tokenize import TokenizerSettings, sentences_from_text

    seconds = dict.fromkeys(("read", "normalize", "tokenize", "vocab", "shards"), 0.0)
    settings, tokenizer = ReaderSettings(format="text"), TokenizerSettings()
    sentences: list[list[str]] = []
    counts: Counter = Counter()
    for path in files:
        t0 = time.perf_counter()
        docs = [e.text for e in read_file(str(path), settings) if isinstance(e, Document)]
        t1 = time.perf_counter()
        texts = [normalize_text(t) for t in docs]
        t2 = time.perf_counter()
        new = [s for t in texts for s in sentences_from_text(t, tokenizer)]
        t3 = time.perf_counter()
        for s in new:
            counts.update(s)
        t4 = time.perf_counter()
        sentences += new
        for step, (a, b) in zip(("read", "normalize", "tokenize", "vocab"), ((t0, t1), (t1, t2), (t2, t3), (t3, t4))):
            seconds[step] += b - a
    t0 = time.perf_counter()
    Vocab.from_pairs([(w, c) for w, c in counts.items() if c >= min_count]).write(out)
    seconds["vocab"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    block = block_size(sum(map(len, sentences)), n_shards)
    per_shard: list[list[list[str]]] = [[] for _ in range(n_shards)]
    pos = 0
    for s in sentences:
        per_shard[pos // block % n_shards].append(s)
        pos += len(s)
    (out / "shards").mkdir()
    for k, rows in enumerate(per_shard):
        pq.write_table(pa.table({"tokens": pa.array(rows, pa.list_(pa.string()))}, schema=SHARD_SCHEMA),
                       out / "shards" / f"shard-{k:05d}.parquet")
    seconds["shards"] = time.perf_counter() - t0
    return seconds


def run_prepare(config, inputs: Path, out: Path) -> dict:  # type: ignore[no-untyped-def]
    from shardvec import api

    config.prepare.input, config.prepare.output = [str(inputs)], str(out)
    started = time.perf_counter()
    api.prepare(config)
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": time.perf_counter() - started, "timings": manifest["timings"], "tokens": manifest["tokens"],
            "records": manifest["records"]["in"], "throughput": manifest.get("throughput")}


def as_the_command_would(runs):  # type: ignore[no-untyped-def]
    """For ``spark_session``: the JVM's compiler that `shardvec prepare` gives each of ``runs`` ((config, files)
    pairs; ``spark.jit = "auto"``: C1 alone where none joins or shuffles documents), for one session that runs
    them all."""
    from shardvec.spark.prepare_job import input_work, small_rows_only

    judged = [(config.prepare, input_work([str(f) for f in files], {})) for config, files in runs]
    return lambda parallelism: all(small_rows_only(prepare, work, parallelism) for prepare, work in judged)


def plain_path_config(spark):  # type: ignore[no-untyped-def]
    """The plain-text path the benchmarks time: every file read as text, no lineage."""
    from shardvec.config import Config

    config = Config(spark=spark)
    config.prepare.format, config.prepare.lineage = "text", False
    return config


def web_path_config(spark):  # type: ignore[no-untyped-def]
    """The web path the benchmarks time: WARC pages, language id ``en`` and the quality rules, no lineage."""
    from shardvec.config import Config

    config = Config(spark=spark)
    config.prepare.lineage, config.prepare.quality.enabled, config.prepare.languages = False, True, ["en"]
    return config


def per_core(run: dict) -> str:  # type: ignore[type-arg]
    """The manifest's MB/s per core of each Python step (absent before manifests had it)."""
    if not run.get("throughput"):
        return "-"
    return ", ".join(f"{name} {step['mb_per_s_per_core']:.1f}" for name, step in run["throughput"]["steps"].items())


def share(timings: dict[str, float]) -> str:
    total = sum(timings.values()) or 1.0
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in timings.items())


def markdown(mb: float, n_files: int, rows: list[tuple[str, float, float, str, str]], command: str, tokens: int,
             web: tuple[float, int], load: float) -> str:
    pure = next(s for name, s, _, _, _ in rows if name.startswith("pure"))
    plain = next(s for name, s, _, _, _ in rows if name.startswith("plain"))
    lines = [SECTION, "", f"`{command}` on {mb:.1f} MB ({n_files} files: Python/Linux/Perl documentation sources, "
             "GCIDE dictionary, WordNet, fortunes, Brown Corpus, then real HTML pages), "
             f"{tokens:,} tokens after prepare, and for the web path {web[0]:.1f} MB of WARC ({web[1]} files of "
             "real HTML pages as crawl responses); Spark local[2] on the 2-core machine (load average "
             f"{load:.2f} at the start). MB/s are of input bytes as stored.", "",
             "| run | seconds | MB/s | time share by stage | MB/s per core by Python step (manifest) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {s:.1f} | {size / s:.2f} | {stages} | {steps} |" for name, s, size, stages, steps in rows]
    lines += ["", f"Plain-text path on Spark vs. pure Python: **{pure / plain:.2f}x** (target >= 1.6x).",
              "Spark stages are the manifest's stage timings (reading, cleaning and tokenizing run fused in one "
              "Arrow pass); the first Spark job's JVM warm-up is paid by the I/O-floor run.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0, help="input size in MB (default 100)")
    parser.add_argument("--web-mb", type=float, default=100.0, help="WARC input size in MB (default 100)")
    args = parser.parse_args()
    show_progress()  # the progress lines the command prints
    load = wait_for_quiet(600)

    from shardvec.config import Config
    from shardvec.spark.session import spark_session

    files = pick_inputs(args.mb)
    mb = sum(f.stat().st_size for f in files) / 2 ** 20
    warcs = realtext.warc_sample(args.web_mb)
    web_mb = sum(f.stat().st_size for f in warcs) / 2 ** 20
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as tmp:
        root = Path(tmp)
        inputs = link_dir(files, root)
        (root / "web").mkdir()
        web_inputs = link_dir(warcs, root / "web")
        config = Config()
        config.spark.master = "local[2]"
        # The JVM loads its classes as a first run on a new machine does, not from an archive an earlier run
        # left in ~/.cache (spark.class_archive; its effect is measured on the whole command instead).
        config.spark.class_archive = False
        spark = spark_session(config.spark, as_the_command_would(
            [(Config(), files), (plain_path_config(config.spark), files), (web_path_config(config.spark), warcs)]))
        n_shards = spark.sparkContext.defaultParallelism
        rows = []

        started = time.perf_counter()
        spark.read.option("recursiveFileLookup", "true").text(str(inputs)).count()
        rows.append(("spark.read.text().count() (I/O floor)", time.perf_counter() - started, mb, "-", "-"))

        defaults = run_prepare(Config(spark=config.spark), inputs, root / "defaults")
        rows.append(("shardvec prepare, defaults", defaults["seconds"], mb, share(defaults["timings"]),
                     per_core(defaults)))

        plain = run_prepare(plain_path_config(config.spark), inputs, root / "plain")
        rows.append(("plain-text path on Spark", plain["seconds"], mb, share(plain["timings"]), per_core(plain)))
        # The same again: what a long run's every further 100 MB costs, once the JVM has compiled what it runs.
        again = [run_prepare(plain_path_config(config.spark), inputs, root / f"plain-{i}") for i in range(3)]
        middle = sorted(again, key=lambda run: run["seconds"])[1]
        rows.append(("plain-text path on Spark, 3 runs more (the median)", middle["seconds"], mb,
                     share(middle["timings"]), per_core(middle)))

        web = run_prepare(web_path_config(config.spark), web_inputs, root / "web-out")
        rows.append(("web path on Spark (WARC, --languages en --quality)", web["seconds"], web_mb,
                     share(web["timings"]), per_core(web)))
        spark.stop()

        (root / "pure").mkdir()
        started = time.perf_counter()
        steps = pure_python(files, n_shards, root / "pure", Config().vocab.min_count)
        rows.append(("pure Python, one process", time.perf_counter() - started, mb, share(steps), "-"))

    command = "flock /tmp/shardvec-bench.lock .venv/bin/python bench/prepare_bench.py" + "".join(
        f" {a}" for a in sys.argv[1:])
    section = markdown(mb, len(files), rows, command, defaults["tokens"], (web_mb, len(warcs)), load)
    results.write_section(section)
    print(section)


if __name__ == "__main__":
    main()
