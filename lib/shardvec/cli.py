"""The ``shardvec`` command: a thin layer over :mod:`shardvec.api`.

Each subcommand's flags are shortcuts for config keys; ``--config FILE`` and
repeatable ``--set section.key=value`` reach every key. A user error prints
one line and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from shardvec.config import load_config
from shardvec.errors import ShardvecError
from shardvec.finetune.modes import MODES
from shardvec.train.rules import RULES

# flag destination -> config key; a flag left unset leaves the key to the lower layers.
FLAG_KEYS: dict[str, dict[str, str]] = {
    "prepare": {"input": "prepare.input", "output": "prepare.output", "format": "prepare.format",
                "text_field": "prepare.text_field", "text_document": "prepare.text_document",
                "quality": "prepare.quality", "languages": "prepare.languages", "mask_pii": "prepare.mask_pii",
                "dedup": "prepare.dedup", "fold_numbers": "prepare.fold_numbers", "phrases": "prepare.phrase_passes",
                "min_count": "vocab.min_count", "max_vocab_size": "vocab.max_vocab_size",
                "shards": "prepare.shards", "master": "spark.master",
                "overwrite": "prepare.overwrite", "fail_on_bad_input": "prepare.fail_on_bad_input"},
    "train": {"corpus": "train.corpus", "output": "train.output", "scheduler": "dask.scheduler",
              "merge": "train.merge", "overwrite": "train.overwrite", "resume": "train.resume"},
    "finetune": {"vectors": "finetune.vectors", "dataset": "finetune.dataset", "train": "finetune.train",
                 "dev": "finetune.dev", "test": "finetune.test", "output": "finetune.output",
                 "mode": "finetune.mode", "overwrite": "finetune.overwrite"},
    "evaluate": {"vectors": "evaluate.vectors", "output": "evaluate.output"},
    "demo": {"master": "spark.master", "scheduler": "dask.scheduler"},
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML config file (see conf/default.toml)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config key; repeatable")


def _flag(p: argparse.ArgumentParser, name: str, help: str, **kw: Any) -> None:
    p.add_argument(name, default=None, help=help, **kw)


def _switch(p: argparse.ArgumentParser, name: str, help: str) -> None:
    p.add_argument(name, action="store_const", const=True, default=None, help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shardvec", description="Word vectors from huge corpora: prepare (Spark), train (Dask), "
        "finetune and evaluate. Precedence: flags > --set > SHARDVEC_<SECTION>__<KEY> > --config > defaults.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="Spark: raw corpora -> clean sentence shards + vocabulary")
    _flag(p, "--input", "input files, directories or globs: paths or URLs (s3://, s3a://, gs://, hdfs://)",
          nargs="+", metavar="PATH")
    _flag(p, "--output", "corpus output directory: a path or a URL", metavar="DIR")
    _flag(p, "--format", "auto, text, html, jsonl, parquet, warc (also WET), wiki")
    _flag(p, "--text-field", "JSONL field / Parquet column with the text", dest="text_field")
    _flag(p, "--text-document", "plain text: one document per 'line' or per 'file'", dest="text_document")
    _switch(p, "--quality", "drop documents failing the Gopher/C4 quality rules (thresholds in [prepare])")
    _flag(p, "--languages", "keep only these languages (ISO 639-1 codes)", nargs="+", metavar="CODE")
    _flag(p, "--mask-pii", "mask email, ip and/or phone", nargs="+", dest="mask_pii", metavar="KIND")
    _flag(p, "--dedup", "exact, lines and/or near", nargs="+", metavar="MODE")
    _switch(p, "--fold-numbers", "replace every digit by 0")
    _flag(p, "--phrases", "word2phrase passes (0-4): new york -> new_york", type=int, metavar="PASSES")
    _flag(p, "--min-count", "leave rarer words out of the vocabulary", type=int, dest="min_count")
    _flag(p, "--max-vocab-size", "keep at most this many words", type=int, dest="max_vocab_size")
    _flag(p, "--shards", "number of output shards (balanced by tokens)", type=int)
    _flag(p, "--master", "Spark master URL (default: spark-submit's, else local[*])")
    _switch(p, "--overwrite", "replace an existing output directory")
    _switch(p, "--fail-on-bad-input", "stop on a damaged input file instead of reporting it")
    _common(p)

    p = sub.add_parser("train", help="Dask: sharded Word2Vec -> vectors.bin, model/")
    _flag(p, "--corpus", "corpus directory written by prepare", metavar="DIR")
    _flag(p, "--output", "output directory", metavar="DIR")
    _flag(p, "--scheduler", "Dask scheduler address (default: $DASK_SCHEDULER_ADDRESS, else a LocalCluster)")
    _flag(p, "--merge", "merge rule: " + "; ".join(f"{name}: {rule.summary}" for name, rule in RULES.items()))
    _switch(p, "--overwrite", "replace an existing output directory")
    _switch(p, "--resume", "continue from the last checkpoint in the output directory")
    _common(p)

    p = sub.add_parser("finetune", help="adapt vectors to a labelled target set and report whether it helped")
    _flag(p, "--vectors", "train output directory or vectors.bin", metavar="PATH")
    _flag(p, "--dataset", "one labelled file to split into train/dev/test", metavar="FILE")
    _flag(p, "--train", "training split", metavar="FILE")
    _flag(p, "--dev", "development split", metavar="FILE")
    _flag(p, "--test", "test split", metavar="FILE")
    _flag(p, "--output", "report directory", metavar="DIR")
    _flag(p, "--mode", f"{', '.join(MODES)} (repeatable)", action="append")
    _switch(p, "--overwrite", "replace an existing output directory")
    _common(p)

    p = sub.add_parser("evaluate", help="analogy and word-similarity scores of a set of vectors")
    _flag(p, "--vectors", "train output directory or vectors.bin", metavar="PATH")
    _flag(p, "--output", "also write the scores to this JSON file", metavar="FILE")
    _common(p)

    p = sub.add_parser("demo", help="the whole pipeline on sample data that gensim installs")
    _flag(p, "--output", "where the demo writes its outputs (default: demo-output)", metavar="DIR")
    _flag(p, "--master", "Spark master URL")
    _flag(p, "--scheduler", "Dask scheduler address")
    _switch(p, "--overwrite", "replace earlier demo outputs")
    _common(p)
    return parser


def flags_layer(command: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    layer: dict[str, dict[str, Any]] = {}
    for dest, key in FLAG_KEYS[command].items():
        value = getattr(args, dest, None)
        if value is not None:
            section, name = key.split(".")
            layer.setdefault(section, {})[name] = value
    return layer


def run(argv: Sequence[str] | None = None) -> Any:
    """Parse ``argv`` and run the command; raises ShardvecError on user errors."""
    from shardvec import api

    args = build_parser().parse_args(argv)
    config = load_config(args.config, args.sets, flags_layer(args.command, args))
    if args.command == "demo":
        from shardvec.demo import run_demo

        return run_demo(config, args.output or "demo-output", bool(args.overwrite))
    stage: Callable[..., Any] = getattr(api, args.command)
    result = stage(config)
    if args.command in ("prepare", "train"):
        print(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    try:
        run(argv)
    except ShardvecError as exc:
        print(f"shardvec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("shardvec: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
