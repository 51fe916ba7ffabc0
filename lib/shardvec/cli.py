"""The ``shardvec`` command: a thin layer over :mod:`shardvec.api`.

Each subcommand's flags are shortcuts for config keys; ``--config FILE`` and
repeatable ``--set section.key=value`` reach every key. Progress lines go to
stderr (``--quiet`` keeps only warnings), results to stdout. A user error prints
one line and exits 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from shardvec.config import key_help, load_config
from shardvec.errors import ShardvecError
from shardvec.logs import PROGRESS, QUIET, VERBOSE, show_progress
from shardvec.train.rules import RULES


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML config file (see conf/default.toml)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config key; repeatable")
    loudness = p.add_mutually_exclusive_group()
    loudness.add_argument("--quiet", "-q", dest="verbosity", action="store_const", const=QUIET, default=PROGRESS,
                          help="print warnings and errors only, no progress lines")
    loudness.add_argument("--verbose", "-v", dest="verbosity", action="store_const", const=VERBOSE,
                          help="also print gensim's own lines from this process (finetune, evaluate)")


def _key(p: argparse.ArgumentParser, flag: str, key: str, help: str | None = None, **kw: Any) -> None:
    """A flag that sets config ``key``: its value lands under the key's dotted name, its help is the key's own.

    ``help`` is for a flag that says more than the key's declaration can (the merge rules' summaries).
    """
    kw.setdefault("metavar", flag.lstrip("-").replace("-", "_").upper())
    text = help or key_help(key)
    if kw.get("action") == "append":
        text += " (repeatable)"
    p.add_argument(flag, dest=key, default=None, help=text, **kw)


def _switch(p: argparse.ArgumentParser, flag: str, key: str) -> None:
    """A flag that turns the boolean config ``key`` on."""
    p.add_argument(flag, dest=key, action="store_const", const=True, default=None, help=key_help(key))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shardvec", description="Word vectors from huge corpora: prepare (Spark), train (Dask), "
        "finetune and evaluate. Precedence: flags > --set > SHARDVEC_<SECTION>__<KEY> > --config > defaults.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="Spark: raw corpora -> clean sentence shards + vocabulary")
    _key(p, "--input", "prepare.input", nargs="+", metavar="PATH")
    _key(p, "--output", "prepare.output", metavar="DIR")
    _key(p, "--format", "prepare.format")
    _key(p, "--text-field", "prepare.text_field")
    _key(p, "--text-document", "prepare.text_document")
    _switch(p, "--quality", "prepare.quality.enabled")
    _key(p, "--languages", "prepare.languages", nargs="+", metavar="CODE")
    _key(p, "--mask-pii", "prepare.mask_pii", nargs="+", metavar="KIND")
    _key(p, "--dedup", "prepare.dedup.modes", nargs="+", metavar="MODE")
    _switch(p, "--fold-numbers", "prepare.fold_numbers")
    _key(p, "--phrases", "prepare.phrase_passes", type=int, metavar="PASSES")
    _key(p, "--min-count", "vocab.min_count", type=int)
    _key(p, "--max-vocab-size", "vocab.max_vocab_size", type=int)
    _key(p, "--shards", "prepare.shards", type=int)
    _key(p, "--master", "spark.master")
    _switch(p, "--overwrite", "prepare.overwrite")
    _switch(p, "--fail-on-bad-input", "prepare.fail_on_bad_input")
    _common(p)

    p = sub.add_parser("train", help="Dask: sharded Word2Vec -> vectors.bin, model/")
    _key(p, "--corpus", "train.corpus", metavar="DIR")
    _key(p, "--output", "train.output", metavar="DIR")
    _key(p, "--scheduler", "dask.scheduler")
    _key(p, "--merge", "train.merge",
         help="merge rule: " + "; ".join(f"{name}: {rule.summary}" for name, rule in RULES.items()))
    _switch(p, "--overwrite", "train.overwrite")
    _switch(p, "--resume", "train.resume")
    _common(p)

    p = sub.add_parser("finetune", help="adapt vectors to a labelled target set and report whether it helped")
    _key(p, "--vectors", "finetune.vectors", metavar="PATH")
    _key(p, "--dataset", "finetune.dataset", metavar="FILE")
    _key(p, "--train", "finetune.train", metavar="FILE")
    _key(p, "--dev", "finetune.dev", metavar="FILE")
    _key(p, "--test", "finetune.test", metavar="FILE")
    _key(p, "--output", "finetune.output", metavar="DIR")
    _key(p, "--mode", "finetune.mode", action="append")
    _switch(p, "--overwrite", "finetune.overwrite")
    _common(p)

    p = sub.add_parser("evaluate", help="analogy and word-similarity scores of a set of vectors")
    _key(p, "--vectors", "evaluate.vectors", metavar="PATH")
    _key(p, "--output", "evaluate.output", metavar="FILE")
    _common(p)

    p = sub.add_parser("demo", help="the whole pipeline on sample data that gensim installs")
    p.add_argument("--output", metavar="DIR", help="where the demo writes its outputs (default: demo-output)")
    _key(p, "--master", "spark.master")
    _key(p, "--scheduler", "dask.scheduler")
    p.add_argument("--overwrite", action="store_true", help="replace earlier demo outputs")
    _common(p)
    return parser


def flags_layer(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The config keys the flags set (a flag left unset leaves its key to the lower layers)."""
    layer: dict[str, dict[str, Any]] = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.rsplit(".", 1)
            layer.setdefault(section, {})[key] = value
    return layer


def run(argv: Sequence[str] | None = None) -> Any:
    """Parse ``argv`` and run the command; raises ShardvecError on user errors."""
    from shardvec import api

    args = build_parser().parse_args(argv)
    show_progress(args.verbosity)
    config = load_config(args.config, args.sets, flags_layer(args))
    if args.command == "demo":
        from shardvec.demo import run_demo

        return run_demo(config, args.output or "demo-output", args.overwrite)
    stage: Callable[..., Any] = getattr(api, args.command)
    # A command is its process's only Spark work: prepare's JVM may compile with C1 alone (spark.jit = "auto").
    result = stage(config, sole_run=True) if args.command == "prepare" else stage(config)
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
