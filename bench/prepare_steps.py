"""Prepare's Python work step by step, in one process, each step beside its bare-library floor.

Not run by the tests. The steps are the ones the Spark job chains inside its
Python workers (``read_step``, ``clean_step``, ``tokenize_step``, then word
counts and shard files), run here one after the other over the same Arrow
batches, so each gets its own CPU time; options that are off by default
(PII masking, quality rules, language id) are measured as variants of the
clean step. Beside each step, the cheapest library call that does the
step's unavoidable part on the same bytes: how far from the floor each step
is. Two paths:

* plain text: a deterministic sample of ``bench/realtext.py``'s text inputs
  (``--mb``), one document per line, default settings;
* web: WARC files of real HTML pages (``realtext.warc_inputs``), HTML
  extraction, language id (en) and the quality rules, plus the MinHash
  signatures of near-dedup.

MB/s per core = MB of input as stored / CPU seconds of this process (Arrow's
threads included); the total is the chain from reading to shards.

    .venv/bin/python bench/prepare_steps.py --mb 10
    .venv/bin/python bench/prepare_steps.py --mb 10 --baseline /path/to/other/lib   # side by side

``--baseline`` runs the same profile with another checkout's ``lib`` (e.g.
``git archive main lib | tar -x -C /tmp/base``) in child processes,
alternating with this one (``--rounds`` each, best of), and adds a ratio
column: the way to measure a change while other work shares the machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterator

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import realtext  # noqa: E402
import results  # noqa: E402

Row = dict[str, Any]
SECTION = "## Prepare steps, one by one"


def cpu_seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def sample_text_files(target_mb: float, seed: int = 0) -> list[Path]:
    """A shuffled sample of the plain-text inputs, files larger than a quarter of the target left out."""
    files = realtext.text_inputs()
    random.Random(seed).shuffle(files)
    chosen, total = [], 0
    for path in files:
        size = path.stat().st_size
        if size > target_mb * 2 ** 20 / 4:
            continue
        chosen.append(path)
        total += size
        if total >= target_mb * 2 ** 20:
            break
    return sorted(chosen)


def _texts(batches: list, kind: str = "doc") -> list[str]:  # type: ignore[type-arg]
    from shardvec.spark.records import split_kind

    return [t for b in batches for t in split_kind(b, kind)[0].column("text").to_pylist()]


def _sentence_columns(batches: list) -> list:  # type: ignore[type-arg]
    from shardvec.spark.records import split_kind

    return [c for c in (split_kind(b, "sent")[0].column("tokens") for b in batches) if len(c)]


def _count_words(columns: list) -> Any:  # type: ignore[type-arg]
    """Word counts as the spill step makes them: Arrow value_counts per batch, summed by group_by."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = [pc.value_counts(c.flatten()) for c in columns]
    return (pa.Table.from_arrays([pa.concat_arrays([c.field("values") for c in counts]),
                                  pa.concat_arrays([c.field("counts") for c in counts])], ["word", "count"])
            .group_by("word", use_threads=False).aggregate([("count", "sum")]))


def _write_shards(columns: list, root: Path, n_shards: int = 2) -> None:  # type: ignore[type-arg]
    """One part file, then ``n_shards`` shards dealt from it, as the shard step does."""
    from shardvec.spark.shards import PartWriter, block_size, place_parts, write_shard

    writer = PartWriter(str(root / "part.arrow"))
    for column in columns:
        writer.write(column)
    writer.close()
    parts, total = place_parts([(0, str(root / "part.arrow"), writer.tokens)])
    block = block_size(total, n_shards)
    for k in range(n_shards):
        write_shard(parts, block, n_shards, k, str(root / f"shard-{k:05d}.parquet"))


def _floor_shards(columns: list, root: Path) -> None:  # type: ignore[type-arg]
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shardvec.corpus import SHARD_SCHEMA

    pq.write_table(pa.Table.from_batches([pa.record_batch([c], schema=SHARD_SCHEMA) for c in columns]),
                   root / "floor.parquet")


def _run(step: Callable[[Iterator[Any]], Iterator[Any]], batches: list) -> list:  # type: ignore[type-arg]
    return list(step(iter(batches)))


def _floor_read_lines(files: list[Path]) -> int:
    from shardvec.readers.fs import open_input

    n = 0
    for path in files:
        with open_input(str(path), {}) as fh:
            n += len(fh.read().decode("utf-8", errors="replace").splitlines())
    return n


def _floor_warc(files: list[Path]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = 0
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                n += len(record.reader.read())
    return n


def _floor_extract(pages: list[str]) -> int:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return sum(len(extract_plain_text(HTMLTree.parse(p), main_content=True, alt_texts=False, links=False))
               for p in pages)


def _floor_langid(texts: list[str]) -> int:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return sum(model.classify(t[:2000])[0] == "en" for t in texts)


_PRECHECK = re.compile(r"[@\d]")
_WORD = re.compile(r"\w+")


def _floor_minhash(texts: list[str], num_perm: int, ngram: int) -> Callable[[], Any]:
    """Every shingle's ``num_perm`` hashes and their minimum, 512 shingles at a time (their hashes stay in the
    CPU's cache), given the shingle hashes (made beforehand, not timed) and ignoring where texts end: the
    arithmetic a vectorized MinHash cannot avoid (the remainders taken without a division, as the product
    does)."""
    import numpy as np

    from shardvec.text import dedup
    from shardvec.text.dedup import _permutations, shingle_hashes

    # A --baseline's lib/ may predate the folded remainders: its own formula then.
    def _universal_hashes(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if hasattr(dedup, "_universal_hashes"):
            return dedup._universal_hashes(x, a, b)
        return (x[:, None] * a + b) % dedup._PRIME

    a, b = _permutations(num_perm, 1)
    flat = np.concatenate([shingle_hashes(t, ngram) for t in texts])

    def run() -> list[Any]:
        return [_universal_hashes(flat[i:i + 512], a, b).min(axis=0) for i in range(0, len(flat), 512)]

    return run


def profile_plain(files: list[Path], tmp: Path) -> list[Row]:
    import pyarrow as pa

    from shardvec.readers import ReaderSettings
    from shardvec.spark.records import clean_step, read_step, tokenize_step
    from shardvec.text.clean import CleanSettings
    from shardvec.text.pii import PII_KINDS
    from shardvec.text.quality import QualitySettings
    from shardvec.text.tokenize import TokenizerSettings

    rows: list[Row] = []
    paths = [pa.record_batch({"path": [str(f) for f in files]})]
    s, read = cpu_seconds(lambda: _run(read_step(ReaderSettings(format="text")), paths))
    rows.append(_row("read (lines -> Arrow rows)", s, "bytes.decode + str.splitlines", _floor_read_lines, files,
                     chained=True))
    raw = _texts(read)
    s, clean = cpu_seconds(lambda: _run(clean_step(CleanSettings(), False), read))
    rows.append(_row("clean: normalize (ftfy check, NFKC, controls, spaces)", s, "unicodedata.normalize NFKC",
                     lambda ts: [unicodedata.normalize("NFKC", t) for t in ts], raw, chained=True))
    for label, settings, floor, fn in (
            ("clean: + mask_pii email ip phone", CleanSettings(mask_pii=PII_KINDS), "re.search([@\\d]) pre-check",
             lambda ts: [_PRECHECK.search(t) for t in ts]),
            ("clean: + quality rules", CleanSettings(quality=QualitySettings()), "str.split",
             lambda ts: [t.split() for t in ts]),
            ("clean: + languages en", CleanSettings(languages=("en",), min_language_score=0.5),
             "py3langid classify alone", _floor_langid)):
        s, _ = cpu_seconds(lambda: _run(clean_step(settings, False), read))
        rows.append(_row(label, s, floor, fn, raw))
    kept = _texts(clean)
    s, tokenized = cpu_seconds(lambda: _run(tokenize_step(TokenizerSettings()), clean))
    rows.append(_row("tokenize (sentences -> Arrow list rows)", s, "re.findall(\\w+) on str.lower",
                     lambda ts: [_WORD.findall(t.lower()) for t in ts], kept, chained=True))
    rows += _count_and_shards(_sentence_columns(tokenized), tmp)
    return rows


def profile_web(files: list[Path], tmp: Path) -> list[Row]:
    import pyarrow as pa

    from shardvec.readers import ReaderSettings
    from shardvec.spark.dedup import _signature_step
    from shardvec.spark.records import clean_step, read_step, split_kind, tokenize_step
    from shardvec.text.clean import CleanSettings
    from shardvec.text.dedup import lsh_params
    from shardvec.text.pii import PII_KINDS
    from shardvec.text.quality import QualitySettings
    from shardvec.text.tokenize import TokenizerSettings

    rows: list[Row] = []
    paths = [pa.record_batch({"path": [str(f) for f in files]})]
    s, read = cpu_seconds(lambda: _run(read_step(ReaderSettings(format="warc")), paths))
    rows.append(_row("read WARC (FastWARC, HTTP, charset decode)", s, "FastWARC iteration + payload read",
                     _floor_warc, files, chained=True))
    pages = _texts(read)
    s, extracted = cpu_seconds(lambda: _run(clean_step(CleanSettings(), False), read))
    rows.append(_row("clean: HTML extraction + normalize", s, "Resiliparse extraction alone", _floor_extract, pages))
    texts = _texts(extracted)
    web = CleanSettings(quality=QualitySettings(), languages=("en",), min_language_score=0.5)
    s, clean = cpu_seconds(lambda: _run(clean_step(web, False), read))
    rows.append(_row("clean: + languages en + quality rules", s, "py3langid classify alone", _floor_langid, texts,
                     chained=True))
    s, _ = cpu_seconds(lambda: _run(clean_step(CleanSettings(quality=QualitySettings(), languages=("en",),
                                                             min_language_score=0.5, mask_pii=PII_KINDS), False),
                                    read))
    rows.append(_row("clean: + mask_pii email ip phone", s, "re.search([@\\d]) pre-check",
                     lambda ts: [_PRECHECK.search(t) for t in ts], texts))
    kept = _texts(clean)
    s, tokenized = cpu_seconds(lambda: _run(tokenize_step(TokenizerSettings()), clean))
    rows.append(_row("tokenize (sentences -> Arrow list rows)", s, "re.findall(\\w+) on str.lower",
                     lambda ts: [_WORD.findall(t.lower()) for t in ts], kept, chained=True))
    rows += _count_and_shards(_sentence_columns(tokenized), tmp)
    bands, band_rows = lsh_params(0.8, 128)
    docs = [d.select(["doc_id", "text"]) for d in (split_kind(b, "doc")[0] for b in clean) if d.num_rows]
    s, _ = cpu_seconds(lambda: _run(_signature_step(128, 5, bands, band_rows), docs))
    rows.append(_row("near dedup: MinHash signatures + LSH band keys", s, "numpy signatures of the batch's shingles",
                     lambda run: run(), _floor_minhash(kept, 128, 5)))
    return rows


def _count_and_shards(columns: list, tmp: Path) -> list[Row]:  # type: ignore[type-arg]
    import pyarrow as pa
    import pyarrow.compute as pc

    s, _ = cpu_seconds(lambda: _count_words(columns))
    flat = pa.chunked_array([c.flatten() for c in columns])
    count = _row("count words (value_counts per batch, summed)", s, "one value_counts over all tokens",
                 lambda f: pc.value_counts(f), flat, chained=True)
    s, _ = cpu_seconds(lambda: _write_shards(columns, tmp))
    shards = _row("part file + 2 shards cut by token range", s, "one pq.write_table of all sentences",
                  lambda cs: _floor_shards(cs, tmp), columns, chained=True)
    return [count, shards]


def _row(step: str, seconds: float, floor: str, floor_fn: Callable[[Any], Any], floor_input: Any,
         chained: bool = False) -> Row:
    floor_s, _ = cpu_seconds(lambda: floor_fn(floor_input))
    return {"step": step, "seconds": seconds, "floor": floor, "floor_seconds": floor_s, "chained": chained}


def profile(mb: float) -> dict[str, Any]:
    """Both paths' rows and their input sizes."""
    text_files, warc_files = sample_text_files(mb), realtext.warc_sample(mb)
    with tempfile.TemporaryDirectory(prefix="prepare-steps-") as tmp:
        (Path(tmp) / "plain").mkdir()
        (Path(tmp) / "web").mkdir()
        plain = profile_plain(text_files, Path(tmp) / "plain")
        web = profile_web(warc_files, Path(tmp) / "web")
    return {"plain": {"mb": sum(f.stat().st_size for f in text_files) / 2 ** 20, "files": len(text_files),
                      "rows": plain},
            "web": {"mb": sum(f.stat().st_size for f in warc_files) / 2 ** 20, "files": len(warc_files),
                    "rows": web}}


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step, the smallest seconds over several runs of the same profile (the least disturbed)."""
    out = json.loads(json.dumps(runs[0]))
    for path in out:
        for i, row in enumerate(out[path]["rows"]):
            row["seconds"] = min(r[path]["rows"][i]["seconds"] for r in runs)
            row["floor_seconds"] = min(r[path]["rows"][i]["floor_seconds"] for r in runs)
    return out


def markdown(result: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    titles = {"plain": "Plain-text path", "web": "Web path (WARC of HTML pages)"}
    lines = []
    for path, part in result.items():
        mb = part["mb"]
        lines += [f"{titles[path]}: {mb:.1f} MB in {part['files']} files, one process.", ""]
        head = "| step | MB/s per core | bare-library floor | floor MB/s per core |"
        rule = "|---|---|---|---|"
        if baseline:
            head += " before (MB/s) | speed-up |"
            rule += "---|---|"
        lines += [head, rule]
        total = base_total = 0.0
        for i, row in enumerate(part["rows"]):
            line = (f"| {row['step']} | {mb / row['seconds']:.1f} | {row['floor']} | "
                    f"{mb / row['floor_seconds']:.1f} |")
            total += row["seconds"] if row["chained"] else 0.0
            if baseline:
                before = baseline[path]["rows"][i]["seconds"]
                base_total += before if row["chained"] else 0.0
                line += f" {mb / before:.1f} | {before / row['seconds']:.2f}x |"
            lines.append(line)
        line = f"| **chain, read to shards** | **{mb / total:.1f}** | | |"
        if baseline:
            line += f" {mb / base_total:.1f} | **{base_total / total:.2f}x** |"
        lines += [line, ""]
    return "\n".join(lines)


def _child(lib: str, mb: float) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, __file__, "--mb", str(mb), "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=10.0, help="MB of each path's input (default 10)")
    parser.add_argument("--baseline", help="another checkout's lib/ to profile side by side")
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: runs of each, alternating")
    parser.add_argument("--write", action="store_true", help=f"also write the tables to bench/RESULTS.md ({SECTION})")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(profile(args.mb)))
        return
    if not args.baseline:
        tables = markdown(profile(args.mb))
    else:
        this_lib = str(BENCH.parent / "lib")
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(_child(args.baseline, args.mb))
            ours.append(_child(this_lib, args.mb))
        tables = markdown(best_of(ours), best_of(theirs))
    command = ".venv/bin/python bench/prepare_steps.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--write")
    section = "\n".join([SECTION, "", f"`{command}` (load average {os.getloadavg()[0]:.2f} at the end; CPU "
                                      "seconds of this process, so other work on the machine slows but does not "
                                      "inflate them).", "", tables])
    if args.write:
        results.write_section(section)
    print(section)


if __name__ == "__main__":
    main()
