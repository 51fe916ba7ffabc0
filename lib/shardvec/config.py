"""The typed configuration: one source of truth for every knob.

Each section is a dataclass whose fields carry their documentation and their
:class:`Rule` (choices, bounds); the CLI's flags take their help from it, and
``conf/default.toml`` and the README's key table are checked against it. A
config is validated here, once loaded and again by each stage. Layers are
applied in increasing precedence::

    defaults < --config FILE < SHARDVEC_<SECTION>__<KEY> env vars < --set k=v < explicit CLI flags

A key lives in exactly one section (``min_count`` is ``vocab.min_count``), so a
dotted name is unambiguous everywhere. Related keys form a sub-table of their
section (``[prepare.quality]``, ``prepare.quality.enabled``); a key that moved
into one is listed in :data:`RENAMED`, and its old name is refused with the new.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import operator
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from shardvec.errors import ConfigError

ENV_PREFIX = "SHARDVEC_"


# Accepted values: the names themselves, or a function reading them from a registry (_names_in).
Names = tuple[Any, ...] | Callable[[], tuple[Any, ...]]


@dataclass(frozen=True)
class Rule:
    """What a key accepts beyond its type, declared beside the key and checked by :meth:`Config.validate`.

    ``choices`` are the accepted values, or (through :func:`_names_in`) the
    names of the registry that owns them. ``gt``, ``ge``, ``lt`` and ``le``
    bound a number. For a list key both apply to every item, and ``nonempty``
    refuses an empty list.
    ``listed`` is how an error lists the choices (``{}``: their names) where
    the message has always been worded otherwise.
    """

    choices: Names | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    nonempty: bool = False
    listed: str = "one of {}"

    def names(self) -> tuple[Any, ...]:
        return self.choices() if callable(self.choices) else self.choices or ()

    def problem(self, name: str, value: Any) -> str | None:
        """The one-line error for ``value`` of key ``name``, or None when the rule allows it."""
        if not isinstance(value, list):
            return None if self._allows(value) else f"{name} must be {self._describe(plural=False)}; got {value!r}"
        if self.nonempty and not value:
            return f"{name} must list at least one value"
        bad = [item for item in value if not self._allows(item)]
        return f"{name} must list {self._describe(plural=True)}; got {bad[0]!r}" if bad else None

    def _allows(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.names()
        return all(_BOUNDS[op][0](value, bound) for op, bound in self._bounds().items())

    def _bounds(self) -> dict[str, float]:
        """The bounds given, lower before upper."""
        given = {"gt": self.gt, "ge": self.ge, "lt": self.lt, "le": self.le}
        return {op: bound for op, bound in given.items() if bound is not None}

    def _describe(self, plural: bool) -> str:
        """The accepted values in words: ``one of a, b`` (a list: ``only a, b``), ``at least 2``, ``in (0, 1]``."""
        if self.choices is not None:
            names = ", ".join(str(n) for n in self.names())
            return f"only {names}" if plural else self.listed.format(names)
        bounds = self._bounds()
        if bounds == {"gt": 0}:
            return "positive values" if plural else "positive"
        if len(bounds) == 2:
            (low, a), (high, b) = bounds.items()
            text = f"in {'(' if low == 'gt' else '['}{a}, {b}{')' if high == 'lt' else ']'}"
        else:
            ((op, bound),) = bounds.items()
            text = f"{_BOUNDS[op][2 if plural else 1]} {bound}"
        return f"values {text}" if plural else text


# bound -> (test, in words, as a symbol); lists say ">= 0", as their messages always have
_BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str, str]] = {
    "gt": (operator.gt, "greater than", ">"), "ge": (operator.ge, "at least", ">="),
    "lt": (operator.lt, "less than", "<"), "le": (operator.le, "at most", "<=")}


def _names_in(registry: str, *extra: str) -> Callable[[], tuple[Any, ...]]:
    """The names of ``module:ATTR``, a registry that lives with its code, read only when a value is checked.

    Adding a reader (or a class weight) stays one registry line, and this module
    imports nothing of the stages at import time.
    """
    module, _, attr = registry.partition(":")
    return lambda: (*extra, *getattr(importlib.import_module(module), attr))


def _doc(default: Any, help: str, **rule: Any) -> Any:
    """A dataclass field with its documentation and its :class:`Rule` attached (mutable defaults copied)."""
    metadata = {"help": help, "rule": Rule(**rule)}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _table(section: type) -> Any:
    """A field holding a sub-table of related keys (``[prepare.quality]``), built by keyword like any section."""
    return field(default_factory=section, metadata={"table": True})


def _keys(section: Any) -> list[dataclasses.Field]:
    """A section's own keys: its fields less its sub-tables."""
    return [f for f in dataclasses.fields(section) if not f.metadata.get("table")]


class _Section:
    """What every section shares."""

    def __setattr__(self, name: str, value: Any) -> None:
        """Refuse a name that is no key, and a sub-table replaced by a value, so Python code setting a
        mistyped or renamed key (``prepare.quality = True``) fails at once instead of later or never."""
        fields = self.__dataclass_fields__  # type: ignore[attr-defined]
        table = name in fields and fields[name].metadata.get("table")
        if name not in fields or (table and not isinstance(value, fields[name].default_factory)):
            section = next(path for path, cls in sections().items() if cls is type(self))
            new = RENAMED.get(f"{section}.{name}")
            raise AttributeError(f"{section}.{name} is now {new}" if new else
                                 f"{section}.{name} is a table; set {section}.{name}.KEY" if table else
                                 f"{type(self).__name__} has no key {name!r}")
        super().__setattr__(name, value)

    def contradictions(self) -> Iterator[str]:
        """One-line errors for values each allowed alone that no run can honour together; none by default."""
        return iter(())

    def problems(self, section: str) -> Iterator[str]:
        """Every key's value outside its rule, then every contradiction.

        A key left at its default is not checked (``test_every_default_obeys_its_rule``
        checks the defaults once): so loading a config for one stage does not
        import the registries, and their libraries, of the stages it does not run.
        """
        for f in _keys(self):
            value = getattr(self, f.name)
            if value == _default(f):
                continue
            problem = f.metadata["rule"].problem(f"{section}.{f.name}", value)
            if problem:
                yield problem
        yield from self.contradictions()


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@dataclass
class SparkConfig(_Section):
    """How the prepare stage reaches Spark."""

    master: str = _doc("", "Spark master URL (spark://, yarn, k8s://, local[N]); empty takes spark-submit's --master, else local[*]")
    app_name: str = _doc("shardvec-prepare", "Spark application name shown in the UI")
    driver_memory: str = _doc("2g", "spark.driver.memory for local mode (ignored when spark-submit already set it)")
    executor_memory: str = _doc("", "spark.executor.memory on a cluster; empty keeps Spark's default")
    executor_cores: int = _doc(0, "spark.executor.cores on a cluster; 0 keeps Spark's default")
    shuffle_partitions: int = _doc(0, "spark.sql.shuffle.partitions; 0 means twice the default parallelism")
    keep_worker_memory: bool = _doc(True, "Python workers keep the memory they free for their next batch instead of "
                                    "returning it to the OS (spark.executorEnv: MIMALLOC_PURGE_DELAY, "
                                    "MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_; a value set in conf or by "
                                    "spark-submit wins)")
    huge_pages: bool = _doc(False, "let prepare's Python processes use transparent huge pages; off, a run's new "
                            "workers and its driver fault memory in 4 KB pages instead of zeroing 2 MB ones "
                            "(spark.executorEnv: MIMALLOC_ALLOW_THP, NUMPY_MADVISE_HUGEPAGE; a value set in conf "
                            "or by spark-submit wins)")
    # Why the default: in a first prepare run profiled with perf the JVM's compiler threads took 13 core-seconds (C2
    # 10, C1 3); with the compile thresholds five times higher a first run's JVM took 12.0 core-seconds against 16.6,
    # and dedup's joins, which need the optimizing compiler, no more (bench/RESULTS.md, "Prepare: one pool of Python
    # workers, in small pages, and a JIT that waits for hot methods").
    java_options: str = _doc("-XX:CompileThresholdScaling=5",
                             "options for Spark's JVMs (spark.driver.extraJavaOptions, spark.executor.extraJavaOptions "
                             "where neither conf nor spark-submit sets them; under spark-submit the driver's is "
                             "--driver-java-options; empty adds none): by default the JIT compiles only methods that "
                             "stay hot")
    # Why auto: without dedup, phrases or skewed inputs the JVM moves only small rows, and C1 alone made the
    # benchmark's plain run 0.2-0.5 s faster (its JVM 0.5-0.6 core-seconds against 0.9-1.8); where it joins or
    # shuffles documents, C1 alone made runs 1.4-3x slower (bench/RESULTS.md, "Prepare: the quick compiler where
    # the JVM moves only small rows").
    jit: str = _doc("auto", "the JVMs' compilers: quick is C1 alone (-XX:TieredStopAtLevel=1), enough for a JVM "
                    "that moves only small rows; tiered adds the optimizing compiler, which joins and shuffles of "
                    "documents need (dedup, phrases, skewed inputs); auto takes quick for the local Spark that the "
                    "shardvec prepare command starts for a job without them on up to 512 MB, tiered otherwise; "
                    "neither changes a JVM that runs already (spark-submit's)",
                    choices=("auto", "quick", "tiered"))
    class_archive: bool = _doc(True, "the driver JVM maps the classes an earlier run archived (or, the first time, "
                               "archives its own as it exits: about 170 MB in $XDG_CACHE_HOME/shardvec/jvm, default "
                               "~/.cache); not under spark-submit, whose driver JVM is already running, nor with "
                               "driver JVM options or class path of your own")
    conf: dict[str, str] = _doc({}, "extra Spark settings passed through verbatim, e.g. {\"spark.ui.port\" = \"4050\"}")


@dataclass
class DaskConfig(_Section):
    """How the train stage reaches Dask."""

    scheduler: str = _doc("", "Dask scheduler address; empty uses $DASK_SCHEDULER_ADDRESS, else starts a LocalCluster")
    n_workers: int = _doc(2, "workers of the LocalCluster started when no scheduler is given")
    threads_per_worker: int = _doc(1, "threads per LocalCluster worker")
    memory_limit: str = _doc("auto", "memory limit per LocalCluster worker (Dask syntax: auto, 4GB, ...)")
    tls_ca_file: str = _doc("", "PEM file of the CA that signed the scheduler's and workers' certificates; with "
                            "tls_cert (and tls_key) the client connects to a tls:// scheduler with these instead "
                            "of Dask's distributed.comm.tls.* settings")
    tls_cert: str = _doc("", "PEM file of this client's certificate, signed by that CA (may hold the key too)")
    tls_key: str = _doc("", "PEM file of this client's private key; empty when tls_cert holds it")


@dataclass
class StorageConfig(_Section):
    """How every stage reaches data lakes (fsspec; prepare's Spark executors too)."""

    options: dict[str, Any] = _doc({}, "fsspec storage options for s3:// (= s3a://), gs://, hdfs:// paths, e.g. "
                                   "{endpoint_url = \"http://127.0.0.1:9000\"}; credentials are best left to the "
                                   "usual environment variables and are never written into reports")


@dataclass
class QualityConfig(_Section):
    """The prepare stage's Gopher/C4 quality rules, each with its own drop reason; a threshold of 0 turns its rule off."""

    enabled: bool = _doc(False, "apply the Gopher/C4 quality rules, thresholds in the other prepare.quality keys")
    min_doc_words: int = _doc(50, "documents with fewer whitespace-separated words are dropped (too_few_words)")
    max_doc_words: int = _doc(100000, "documents with more words are dropped (too_many_words)")
    min_mean_word_length: float = _doc(3.0, "lower bound of the mean word length (mean_word_length)")
    max_mean_word_length: float = _doc(10.0, "upper bound of the mean word length (mean_word_length)")
    max_symbol_word_ratio: float = _doc(0.1, "most '#' and ellipses per word (symbol_word_ratio)")
    min_alpha_word_share: float = _doc(0.8, "least share of words with a letter (alpha_word_share)")
    min_stop_words: int = _doc(2, "least English stop words (the, be, to, of, and, that, have, with) (few_stop_words)")
    max_ellipsis_line_share: float = _doc(0.3, "most share of lines ending in an ellipsis (ellipsis_lines)")


@dataclass
class DedupConfig(_Section):
    """The prepare stage's duplicate removal."""

    modes: list[str] = _doc([], "exact (whole documents), lines (CCNet-style repeated lines) and/or near (MinHash LSH)",
                            choices=("exact", "lines", "near"))
    near_dup_threshold: float = _doc(0.8, "near: Jaccard similarity of word shingles above which documents are duplicates",
                                     gt=0, le=1)
    minhash_perm: int = _doc(128, "near: MinHash permutations per signature", ge=2)
    minhash_ngram: int = _doc(5, "near: words per shingle", ge=1)


@dataclass
class PrepareConfig(_Section):
    """The Spark job that turns raw text into corpus shards and a vocabulary."""

    input: list[str] = _doc([], "input paths or URLs: files, directories or globs")
    output: str = _doc("", "corpus output directory: a path or a URL (s3:// = s3a://, gs://, hdfs://)")
    staging_dir: str = _doc("", "a remote output is assembled here, then uploaded; on a multi-machine cluster a "
                            "directory the driver and every executor share, as a local output must be; empty uses "
                            "the system temporary directory")
    format: str = _doc("auto", "auto, text, html, jsonl, parquet, warc (also WET), wiki; auto sniffs each file's first bytes, then its name",
                       choices=_names_in("shardvec.readers:FORMATS"))
    text_document: str = _doc("line", "plain-text files: one document per 'line' or per 'file'",
                              choices=("line", "file"))
    text_field: str = _doc("text", "JSONL field or Parquet column holding the text")
    id_field: str = _doc("id", "JSONL field or Parquet column with the record's own id, kept in the lineage")
    url_field: str = _doc("url", "JSONL field or Parquet column with the record's URL, kept in the lineage")
    date_field: str = _doc("date", "JSONL field or Parquet column with the record's date, kept in the lineage")
    max_record_bytes: int = _doc(16 << 20, "a longer record (line, page, file) is dropped as record_too_long without being held in memory",
                                 ge=1)
    lineage: bool = _doc(True, "write lineage.parquet: every record's id, url, date and fate (kept or the drop reason)")
    fix_mojibake: bool = _doc(True, "repair UTF-8 mis-decoded as Latin-1/cp1252 with ftfy before NFKC normalization")
    languages: list[str] = _doc([], "ISO 639-1 codes of the languages to keep (py3langid); empty keeps every language")
    min_language_score: float = _doc(0.5, "least probability of a kept language (wrong_language below it)")
    mask_pii: list[str] = _doc([], "replace these by placeholders: email, ip, phone",
                               choices=_names_in("shardvec.text.pii:PII_KINDS"))
    lowercase: bool = _doc(True, "lowercase tokens")
    fold_numbers: bool = _doc(False, "replace every digit by 0 (1984 -> 0000)")
    min_sentence_tokens: int = _doc(2, "sentences with fewer tokens are dropped (counted in the manifest)", ge=1)
    max_sentence_length: int = _doc(10000, "longer sentences are split into pieces of this many tokens, as gensim does",
                                    ge=1)
    phrase_passes: int = _doc(0, "word2phrase passes (0-4) joining collocations: new york -> new_york", ge=0, le=4)
    phrase_threshold: float = _doc(100.0, "word2phrase score a bigram must exceed: (n_ab - min_count) / (n_a * n_b) * N")
    phrase_min_count: int = _doc(5, "word2phrase: words and bigrams seen fewer times never join; also the score's discount")
    shards: int = _doc(0, "number of Parquet shards, balanced by token count; 0 means Spark's default parallelism",
                       ge=0)
    overwrite: bool = _doc(False, "replace an existing output directory")
    fail_on_bad_input: bool = _doc(False, "stop the job on a damaged input file instead of reporting it")
    quality: QualityConfig = _table(QualityConfig)
    dedup: DedupConfig = _table(DedupConfig)


@dataclass
class VocabConfig(_Section):
    """The vocabulary built by prepare and shared by every trainer."""

    min_count: int = _doc(5, "words seen fewer times are left out of the vocabulary", ge=1)
    max_vocab_size: int = _doc(0, "keep at most this many of the most frequent words; 0 keeps all", ge=0)


@dataclass
class TrainConfig(_Section):
    """Sharded Word2Vec on Dask; gensim's own parameter names."""

    corpus: str = _doc("", "corpus directory written by prepare")
    output: str = _doc("", "output directory for vectors.bin, model/ and train_report.json")
    vector_size: int = _doc(100, "dimensions of the word vectors", gt=0)
    window: int = _doc(5, "maximum distance between the current and predicted word", gt=0)
    negative: int = _doc(5, "negative samples per positive pair; 0 disables negative sampling", ge=0)
    hs: int = _doc(0, "1 uses hierarchical softmax", choices=(0, 1))
    sg: int = _doc(1, "1 for skip-gram, 0 for CBOW", choices=(0, 1))
    sample: float = _doc(1e-3, "down-sampling threshold for frequent words (from global counts)")
    epochs: int = _doc(5, "passes over the corpus", gt=0)
    alpha: float = _doc(0.025, "initial learning rate")
    min_alpha: float = _doc(0.0001, "final learning rate; the decay is linear across all rounds and shards", gt=0)
    seed: int = _doc(1, "seed for the initial weights (identical in every trainer)")
    workers: int = _doc(1, "gensim threads per shard trainer", gt=0)
    compute_loss: bool = _doc(True, "gensim's compute_loss: each round's training loss in the progress line and "
                                    "train_report.json (its cost: bench/RESULTS.md)")
    merge: str = _doc("adasum", "merge rule (shardvec train --help lists them; docs/scaling.md compares them)",
                      choices=_names_in("shardvec.train.rules:RULES"))
    rounds_per_epoch: int = _doc(0, "merges per epoch for rules that merge every round (ignored when sync_words is "
                                    "set); 0 means the rule's own (10; adasum: 1 at 2 shards, 20 from 17 to 32, "
                                    "15 from 33 to 128, else 10)",
                                 ge=0)
    sync_words: int = _doc(0, "words each shard trains between merges, instead of rounds_per_epoch; 0 uses rounds_per_epoch",
                           ge=0)
    lr_scale: float = _doc(0.0, "multiplier of every shard's learning rate for rules that merge every round; 0 means the "
                                "rule's own (periodic: the number of shards; adasum: log2 of it, from 2 to 4; the others 1)",
                            ge=0)
    momentum: float = _doc(-1.0, "bmuf: block momentum eta; negative means 1 - 1/shards", lt=1)
    block_lr: float = _doc(1.0, "bmuf: block learning rate zeta", gt=0)
    delta_dtype: str = _doc("float32", "delta rules: how changed rows travel, float32 or float16 (half the bytes)",
                            choices=("float32", "float16"))
    write_text: bool = _doc(False, "also write vectors.txt (word2vec text format)")
    write_kv: bool = _doc(False, "also write vectors.kv (gensim's format, memory-mappable; a pickle: trusted use only)")
    evaluate: bool = _doc(True, "run the intrinsic evaluation at the end and put it in the report")
    overwrite: bool = _doc(False, "replace an existing output directory")
    resume: bool = _doc(False, "continue from the last checkpoint in the output directory")

    def contradictions(self) -> Iterator[str]:
        if self.negative == 0 and self.hs == 0:
            yield "set train.negative > 0 or train.hs = 1, else nothing trains"
        if self.min_alpha > self.alpha:
            yield "need 0 < train.min_alpha <= train.alpha"


@dataclass
class AdaptConfig(_Section):
    """Continued Word2Vec training on the target texts, for the adapted and target-only vectors."""

    epochs: int = _doc(5, "Word2Vec passes over the target texts", gt=0)
    min_count: int = _doc(2, "target words seen fewer times are not added to the vocabulary", gt=0)
    lock: float = _doc(1.0, "learning-rate factor of pretrained words (gensim vectors_lockf): 1 trains them fully, 0 freezes them",
                       ge=0)


@dataclass
class FinetuneConfig(_Section):
    """Transfer learning on a labelled target dataset."""

    vectors: str = _doc("", "train output directory (with model/) or a word2vec vectors.bin")
    dataset: str = _doc("", "one labelled file, split into train/dev/test")
    train: str = _doc("", "training split (instead of dataset)")
    dev: str = _doc("", "development split (instead of dataset)")
    test: str = _doc("", "test split (instead of dataset)")
    output: str = _doc("", "output directory for report.json and report.md")
    format: str = _doc("auto", "auto, fasttext, csv, tsv, jsonl, parquet or conll",
                       choices=_names_in("shardvec.finetune.datasets:FORMATS"))
    text_field: str = _doc("text", "text column for csv/tsv/jsonl/parquet")
    label_field: str = _doc("label", "label column for csv/tsv/jsonl/parquet")
    mode: list[str] = _doc(["classify"], "classify, adapt and/or tag",
                           choices=_names_in("shardvec.finetune.modes:MODES"), nonempty=True)
    epochs: int = _doc(30, "maximum epochs of the classifier (early stopping on dev, see select_on)", gt=0)
    learning_rate: list[float] = _doc([0.2, 0.5], "classifier learning rates searched (with lexical_l2) on dev or by cross-validation: each setting and budget keeps the candidate with the best mean score over its repeats (one rate: no search)",
                                      gt=0, nonempty=True)
    l2: float = _doc(1e-4, "L2 penalty on the classifier weights", ge=0)
    patience: int = _doc(3, "epochs without dev improvement before stopping", gt=0)
    select_on: str = _doc("score", "what picks the best epoch on dev and counts patience: score (the headline metric, ties to the lower loss) or loss",
                          choices=("score", "loss"), listed="score or loss")
    class_weight: str = _doc("auto", "loss weight of an example of class c: balanced (1 / n_c: each class weighs the same in total), sqrt (1 / sqrt(n_c)), none, or auto (sqrt when the headline is macro-F1, that is for classify; none for tag)",
                             choices=_names_in("shardvec.finetune.classifier:CLASS_WEIGHTS", "auto"), listed="{}")
    update_vectors: bool = _doc(False, "back-propagate into the word vectors (supervised fine-tuning)")
    dev_fraction: float = _doc(0.1, "share of a single dataset used for dev", ge=0, lt=1)
    test_fraction: float = _doc(0.2, "share of a single dataset used for test", ge=0, lt=1)
    split_seed: int = _doc(0, "seed of the stratified split and of the baselines")
    overwrite: bool = _doc(False, "replace an existing output directory")
    compare: list[str] = _doc(["random", "target", "pretrained", "adapted", "finetuned", "adapted+finetuned"],
                              "vector settings compared on the same splits: random, target, pretrained, adapted, "
                              "finetuned, adapted+finetuned",
                              choices=("random", "target", "pretrained", "adapted", "finetuned", "adapted+finetuned"))
    budgets: list[float] = _doc([0.01, 0.05, 0.25, 1.0], "label budgets of the learning curve, as shares of the train split (1.0 always runs)",
                                gt=0, le=1, nonempty=True)
    repeats: int = _doc(3, "runs per setting and budget, with different subsets and seeds", gt=0)
    min_per_class: int = _doc(2, "floor of every class in a budget's draw (tag mode: of every tag's tokens): a class gets its share of the budget but never fewer examples than this; a budget is skipped only when some class has fewer in the whole training split",
                              gt=0)
    batch_size: int = _doc(16, "examples per classifier update", gt=0)
    bigram_buckets: int = _doc(0, "hashed word-bigram buckets added to the document representation, as fastText's -bucket; 0 disables",
                               ge=0)
    weighting: str = _doc("mean", "classify: how a document's word vectors are averaged: mean, tfidf (IDF of the training texts) or sif (a / (a + word frequency), Arora et al. 2017)",
                          choices=("mean", "tfidf", "sif"))
    lexical: bool = _doc(True, "a sparse lexical part beside the vectors, trained jointly: TF-IDF word n-grams (classify) or word, shape and affix features of the window (tag)")
    lexical_l2: list[float] = _doc([1e-5, 1e-2], "L2 penalty on the lexical part's weights (of its unit-length rows), searched with the learning rate: small budgets often want the strong one, large ones the weak one",
                                   ge=0, nonempty=True)
    lexical_ngrams: int = _doc(1, "classify: longest word n-gram of the lexical part (2: unigrams and bigrams, as fastText's wordNgrams 2)",
                               ge=1)
    bigram_settings: list[str] = _doc(["pretrained"], "classify, with the lexical part on words alone (lexical_ngrams = 1): vector settings that run once more with word unigrams and bigrams in the lexical part, reported as <setting>+bigrams and weighed into the ensemble where <setting> is a member (on WordNet glosses at the full budget the ensemble gave pretrained+bigrams two thirds of its weight, where bigrams in every setting had scored lower on Brown genres at every budget); the reports took 1.2-1.5x as long; [] disables",
                                      choices=("random", "target", "pretrained", "adapted", "finetuned", "adapted+finetuned"))
    hidden: int = _doc(0, "ReLU units between the vectors' features and the softmax; 0: none (linear)", ge=0)
    select_by: str = _doc("auto", "how each setting and budget chooses its learning rate (and epochs): dev, cv (k-fold cross-validation on the budget's own training examples) or auto (cv when dev has fewer than cv_dev_below examples or the budget is at most cv_budget_upto)",
                          choices=("auto", "dev", "cv"))
    cv_folds: int = _doc(5, "folds of the cross-validation (fewer when a budget has fewer examples)", ge=2)
    cv_dev_below: int = _doc(200, "auto selection: cross-validate when the dev split has fewer examples (tag mode: tokens) than this",
                             ge=0)
    cv_budget_upto: float = _doc(0.05, "auto selection: cross-validate at label budgets up to this share", ge=0, le=1)
    cross_fit: bool = _doc(True, "score each fit for selection on two halves of its held-out examples, each at the epoch that the other half chose, so that early stopping does not flatter settings with epochs to pick from over the baseline and the ensemble; false: the kept epoch's held-out score")
    baseline: bool = _doc(True, "also run the classical baseline on the same splits and budgets: TF-IDF + logistic regression (classify), logistic regression on the lexical features (tag)")
    baseline_c: list[float] = _doc([1.0, 10.0], "inverse regularisation strengths of the baseline's logistic regression, searched like the learning rate",
                                   gt=0)
    baseline_ngrams: int = _doc(1, "classify: longest word n-gram of the baseline's TF-IDF features (1: words alone, the classical anchor; its logistic regression on bigrams took several times as long and scored lower on the benchmark sets)",
                                ge=1)
    ensemble: list[str] = _doc(["pretrained", "adapted", "finetuned", "adapted+finetuned", "baseline"],
                               "settings whose predicted probabilities are weighed into one more setting, ensemble (see ensemble_weights), chosen like the others on dev or by cross-validation (baseline: the classical baseline); members that did not run are left out, and with fewer than two there is no ensemble; [] disables",
                               choices=("random", "target", "pretrained", "adapted", "finetuned", "adapted+finetuned",
                                        "baseline"))
    ensemble_weights: str = _doc("greedy", "how the ensemble weighs its members at each budget: greedy (members added one at a time, with replacement, while the held-out score rises; the selection score cross-fitted like a fit's) or equal (the plain mean)",
                                 choices=("greedy", "equal"))
    ensemble_prior_powers: list[float] = _doc([0.0, 0.25, 0.5, 0.75, 1.0], "classify: the ensemble's probabilities are divided by the training split's class shares to one of these powers, chosen with its weights on the held-out units, so that rare classes are predicted as often as macro-F1 rewards (0: as they are; [0.0] turns it off)",
                                              ge=0)
    prefer_ensemble: bool = _doc(True, "recommend the ensemble at a budget (and as the best setting) unless another setting beats it beyond noise: a mean difference of their selection scores on the same held-out entries (repeats, or folds) above twice its standard error, over seeds and over resamples of the held-out units; false: the best selection score")
    tag_window: int = _doc(2, "tag mode: words on each side of a token that the tagger sees", ge=0)
    intrinsic_vocab: int = _doc(2000, "analogy questions of each vector set's intrinsic scores use only this many most frequent words (each answered question scans them all; shardvec evaluate gives full scores); 0 skips the scores",
                                ge=0)
    adapt: AdaptConfig = _table(AdaptConfig)

    def contradictions(self) -> Iterator[str]:
        if self.dev_fraction + self.test_fraction >= 1:
            yield "finetune.dev_fraction and finetune.test_fraction must sum below 1"
        if self.baseline and not self.baseline_c:
            yield "finetune.baseline_c must list positive values when finetune.baseline is on"
        if not self.ensemble_prior_powers:
            yield "finetune.ensemble_prior_powers must list at least one power ([0.0]: leave the probabilities as they are)"


@dataclass
class EvaluateConfig(_Section):
    """Intrinsic evaluation of word vectors."""

    vectors: str = _doc("", "train output directory or a word2vec vectors.bin")
    output: str = _doc("", "JSON file to write the scores to (printed either way)")
    restrict_vocab: int = _doc(30000, "analogy questions use only the most frequent words")


@dataclass
class Config:
    """The whole configuration, one attribute per section."""

    spark: SparkConfig = field(default_factory=SparkConfig)
    dask: DaskConfig = field(default_factory=DaskConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """A plain nested dict, as written into manifests and reports: credentials redacted."""
        from shardvec.storage import redact

        document = dataclasses.asdict(self)
        document["storage"]["options"] = redact(document["storage"]["options"])
        # Spark settings can hold credentials too (spark.hadoop.fs.s3a.secret.key, ...).
        document["spark"]["conf"] = redact(document["spark"]["conf"])
        return document

    def validate(self) -> Config:
        """Raise a one-line ConfigError for the first value its key's rule refuses, or the first contradiction.

        Called when a config is loaded and again by every stage, since Python
        callers build and change a Config without loading one.
        """
        for name in sections():
            for problem in section_of(self, name).problems(name):
                raise ConfigError(problem)
        return self


Layer = Mapping[str, Mapping[str, Any]]


# Keys that moved into a sub-table: old dotted name -> new one. Loading an old name is a one-line error naming
# the new one, so an old config fails loudly instead of silently losing the setting.
# The thresholds and MinHash keys kept their names inside their sub-table, so those are read from the tables.
RENAMED = {
    "prepare.quality": "prepare.quality.enabled",
    **{f"prepare.{f.name}": f"prepare.quality.{f.name}" for f in _keys(QualityConfig) if f.name != "enabled"},
    "prepare.dedup": "prepare.dedup.modes",
    **{f"prepare.{f.name}": f"prepare.dedup.{f.name}" for f in _keys(DedupConfig) if f.name != "modes"},
    **{f"finetune.adapt_{f.name}": f"finetune.adapt.{f.name}" for f in _keys(AdaptConfig)},
}


def sections() -> dict[str, type]:
    """Section name -> dataclass, in declaration order, a sub-table (``prepare.quality``) right after its section."""
    found: dict[str, type] = {}

    def walk(prefix: str, cls: type) -> None:
        for f in dataclasses.fields(cls):
            if cls is Config or f.metadata.get("table"):
                found[prefix + f.name] = f.default_factory  # type: ignore[assignment]
                walk(f"{prefix}{f.name}.", f.default_factory)  # type: ignore[arg-type]

    walk("", Config)
    return found


def section_of(config: Config, section: str) -> Any:
    """The section object of ``config`` that a dotted section name (``prepare.quality``) names."""
    return functools.reduce(getattr, section.split("."), config)


def section_fields(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in _keys(sections()[section])}


def _every_key() -> list[str]:
    """Every dotted name, ``spark.master`` to ``evaluate.restrict_vocab``."""
    return [f"{section}.{key}" for section in sections() for key in section_fields(section)]


def key_help(name: str) -> str:
    """The documentation declared for a dotted key, as conf/default.toml and the CLI's flags show it."""
    section, key = split_name(name)
    return section_fields(section)[key].metadata["help"]


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """``; did you mean X?`` naming the known name nearest a mistyped one, or nothing when none is near.

    Names are compared by their last part (``epochs`` of ``train.epochs``), a tie
    going to the mistyped name's own section, then to its top section
    (``finetune.adapt.epoch``: ``finetune.adapt.epochs`` before ``finetune.epochs``):
    whole dotted names would make every key of a section look near.
    """
    section, top, last = name.rpartition(".")[0], name.partition(".")[0], name.rpartition(".")[2]

    def closeness(candidate: str) -> tuple[float, bool, bool]:
        ratio = difflib.SequenceMatcher(None, last, candidate.rpartition(".")[2]).ratio()
        return ratio, candidate.rpartition(".")[0] == section, candidate.partition(".")[0] == top

    nearest = max(known, key=closeness)
    return f"; did you mean {nearest}?" if closeness(nearest)[0] >= 0.6 else ""  # 0.6: difflib's own cutoff


def _field_type(section: str, key: str) -> Any:
    hints = typing.get_type_hints(sections()[section])
    return hints[key]


def _check_type(name: str, value: Any, expected: Any, source: str) -> Any:
    """Return ``value`` converted to ``expected`` or raise a one-line ConfigError."""
    origin = typing.get_origin(expected)
    ok: bool
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected is str:
        ok = isinstance(value, str)
    elif origin is list:
        (item,) = typing.get_args(expected)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        ok = isinstance(value, list)
        if ok:
            value = [_check_type(name, v, item, source) for v in value]
    elif origin is dict:
        ok = isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) for v in value.values())
    else:  # pragma: no cover - a new field type would land here first
        raise TypeError(f"unsupported config type {expected!r}")
    if not ok:
        raise ConfigError(
            f"config key '{name}' expects {_type_name(expected)}, got {type(value).__name__} {value!r} ({source})"
        )
    return value


def _type_name(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected)


def parse_scalar(text: str) -> Any:
    """Read a value given as text (env var or --set) the way TOML would.

    ``3`` is an int, ``true`` a bool, ``["a", "b"]`` a list; anything that is
    not valid TOML stays a string, so ``--set prepare.output=/tmp/x`` works
    without quotes.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(item: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value)."""
    if "=" not in item:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    name, text = item.split("=", 1)
    section, key = split_name(name.strip())
    return section, key, parse_scalar(text.strip())


def split_name(name: str) -> tuple[str, str]:
    """``section.key`` -> (section, key); the section may be a sub-table: ``prepare.quality.enabled``."""
    section, _, key = name.rpartition(".")
    if not section or not key or "" in section.split("."):
        raise ConfigError(f"config key '{name}' must be written section.key")
    return section, key


def _put(layer: dict[str, dict[str, Any]], section: str, key: str, value: Any) -> None:
    """Set ``section.key`` in ``layer``; a table given for a sub-table (TOML's ``[prepare.quality]`` reads as
    ``prepare = {quality = {...}}``) is spread into that sub-table's keys, so a layer is flat and a later
    setting of the same key wins, whichever way either was written."""
    if isinstance(value, dict) and f"{section}.{key}" in sections():
        for inner, inner_value in value.items():
            _put(layer, f"{section}.{key}", inner, inner_value)
    else:
        layer.setdefault(section, {})[key] = value


def env_layer(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Collect ``SHARDVEC_<SECTION>__<KEY>`` variables (``SHARDVEC_PREPARE__QUALITY__ENABLED``) into a layer."""
    layer: dict[str, dict[str, Any]] = {}
    for var, text in environ.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        section, _, key = var[len(ENV_PREFIX):].rpartition("__")
        _put(layer, section.lower().replace("__", "."), key.lower(), parse_scalar(text))
    return layer


def file_layer(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    layer: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"config key '{section}' in {p} must be a [section] table")
        for key, value in table.items():
            _put(layer, section, key, value)
    return layer


def apply_layer(config: Config, layer: Layer, source: str) -> Config:
    """Validate ``layer`` (flat: sub-tables are sections of their own, see :func:`_put`) against the
    schema and set its values on ``config``."""
    known = sections()
    for section, table in layer.items():
        if section not in known:
            raise ConfigError(f"unknown config section '{section}' ({source}); known: {', '.join(known)}"
                              f"{_did_you_mean(section, known)}")
        fields = section_fields(section)
        target = section_of(config, section)
        for key, value in table.items():
            name = f"{section}.{key}"
            if name in RENAMED:
                raise ConfigError(f"config key '{name}' ({source}) is now {RENAMED[name]}")
            if name in known:
                raise ConfigError(f"config key '{name}' ({source}) is a table; set {name}.KEY")
            if key not in fields:
                raise ConfigError(f"unknown config key '{name}' ({source}){_did_you_mean(name, _every_key())}")
            setattr(target, key, _check_type(name, value, _field_type(section, key), source))
    return config


def load_config(
    config_file: str | Path | None = None,
    sets: Iterable[str] = (),
    flags: Layer | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build a Config from every layer, lowest precedence first, and validate the result."""
    config = Config()
    if config_file:
        apply_layer(config, file_layer(config_file), f"from {config_file}")
    apply_layer(config, env_layer(os.environ if environ is None else environ), "from environment")
    set_layer: dict[str, dict[str, Any]] = {}
    for item in sets:
        _put(set_layer, *parse_assignment(item))
    apply_layer(config, set_layer, "from --set")
    if flags:
        apply_layer(config, flags, "from command-line flag")
    return config.validate()


def defaults_toml() -> str:
    """The documented defaults, as ``conf/default.toml`` holds them."""
    lines = ["# shardvec defaults: every key with its default value.",
             "# Generated from lib/shardvec/config.py (python -m shardvec.config); tests keep them equal.", ""]
    for section, cls in sections().items():
        lines.append(f"# {cls.__doc__.strip()}")
        lines.append(f"[{section}]")
        defaults = cls()
        for f in _keys(cls):
            lines.append(f"# {f.metadata['help']}")
            lines.append(f"{f.name} = {_toml_value(getattr(defaults, f.name))}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


if __name__ == "__main__":
    print(defaults_toml(), end="")
