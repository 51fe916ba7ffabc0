"""``run_finetune`` end to end: outputs, report contents, modes and the errors users meet."""

from __future__ import annotations

import json

import pytest
from gensim.test.utils import datapath

from finetune_helpers import (conll_sentences, lee_sentences, quick_config, topic_docs, topic_sentences,
                              train_word2vec, write_conll, write_fasttext, write_train_dir, write_vectors_file)
from shardvec.config import Config, section_of, split_name
from shardvec.errors import ConfigError, InputError, OutputError
from shardvec.finetune.pipeline import format_summary, run_finetune
from shardvec.outputs import SUCCESS
from shardvec.vectors import load_keyed_vectors

PNG = b"\x89PNG\r\n\x1a\n"
SETTINGS = ["random", "target", "pretrained", "adapted", "finetuned", "adapted+finetuned"]


@pytest.fixture(scope="module")
def lee_dir(tmp_path_factory):
    """A train directory with 50-dimensional vectors and output weights from gensim's Lee corpus."""
    model = train_word2vec(lee_sentences(), vector_size=50, epochs=3)
    return write_train_dir(model, tmp_path_factory.mktemp("lee") / "train")


@pytest.fixture(scope="module")
def topic_vectors(tmp_path_factory):
    return write_vectors_file(train_word2vec(topic_sentences(1500), vector_size=24),
                              tmp_path_factory.mktemp("topics") / "vectors.bin")


def test_pang_lee_with_defaults(tmp_path, lee_dir, capsys):
    config = Config()
    config.finetune.vectors = str(lee_dir)
    config.finetune.dataset = datapath("pang_lee_polarity.cor")
    config.finetune.output = str(tmp_path / "out")
    config.finetune.mode = ["classify", "adapt"]
    report = run_finetune(config)

    out = tmp_path / "out"
    assert (out / SUCCESS).is_file()
    for name in ("report.json", "report.md", "adapted_vectors.bin", "learning_curve_classify.png",
                 "confusion_classify.png"):
        assert (out / name).is_file(), name
    assert (out / "learning_curve_classify.png").read_bytes()[:8] == PNG
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))  # plain JSON types
    assert not list(tmp_path.glob(".out.staging-*"))

    assert report["schema"] == "shardvec.finetune/1" and report["primary"] == "adapted"
    assert report["data"]["splits"] == {"train": 140, "dev": 20, "test": 40}
    assert report["data"]["label_counts"]["test"] == {"neg": 20, "pos": 20}
    section = report["classify"]
    # the pretrained setting runs once more with word bigrams (finetune.bigram_settings), and joins the ensemble
    assert list(section["settings"]) == [*SETTINGS, "pretrained+bigrams", "ensemble"]
    assert section["settings"]["ensemble"]["members"] == ["pretrained", "adapted", "finetuned", "adapted+finetuned",
                                                          "tfidf+lr", "pretrained+bigrams"]
    assert section["settings"]["pretrained+bigrams"]["description"] == \
        "pretrained vectors (frozen), word bigrams in the lexical part"
    assert section["budgets"] == [0.01, 0.05, 0.25, 1.0] and section["repeats"] == 3
    assert section["learning_rates"] == [0.2, 0.5] and section["lexical_l2"] == [1e-5, 1e-2]
    assert section["skipped_budgets"] == [] and section["min_per_class"] == 2
    assert section["budget_draws"][0] == {"budget": 0.01, "units": [4, 4, 4],
                                          "per_class": {"neg": [2, 2, 2], "pos": [2, 2, 2]}}
    for name, s in section["settings"].items():
        assert [c["budget"] for c in s["curve"]] == [0.01, 0.05, 0.25, 1.0]
        assert [c["train_units"] for c in s["curve"]] == [4, 8, 36, 140]
        assert all(len(c["runs"]) == 3 for c in s["curve"])
        if name != "ensemble":  # which trains nothing: it averages its members' probabilities
            assert all([(t["learning_rate"], t["lexical_l2"]) for t in c["search"]] ==
                       [(0.2, 1e-5), (0.2, 1e-2), (0.5, 1e-5), (0.5, 1e-2)] for c in s["curve"])
            assert s["learning_rate"] == s["curve"][-1]["learning_rate"] in (0.2, 0.5)
        assert 0 <= s["test_score"]["mean"] <= 1 and s["test_metrics"]["examples"] == 40
        assert s["test_score"]["min"] <= s["test_score"]["mean"] <= s["test_score"]["max"]
    best = section["best"]["setting"]
    # dev holds 20 sentences: every budget chose by cross-validation, and so did the best setting
    assert section["selection"]["by_budget"] == {"0.01": "cv", "0.05": "cv", "0.25": "cv", "1.0": "cv"}
    assert section["best"]["chosen_on"] == ("mean 5-fold cross-validated macro_f1 at the full budget; the ensemble "
                                            "unless a setting beats it beyond noise")
    assert section["prefer"] == "ensemble" and best == section["recommended"]["1.0"]
    assert set(section["recommended"]) == {"0.01", "0.05", "0.25", "1.0"}
    assert section["settings"][best]["test_metrics"]["confusion"]["labels"] == ["neg", "pos"]
    assert report["adapt"]["output_weights"] == "continued from model/" and report["adapt"]["sentences"] == 140
    assert set(report["intrinsic"]) == set(SETTINGS)
    assert 0 < report["intrinsic"]["pretrained"]["wordsim353"]["oov_share"] < 1

    markdown = (out / "report.md").read_text()
    assert "| train | 140 | neg 70, pos 70 |" in markdown
    assert "learning rate chosen per setting and budget from 0.2, 0.5" in markdown
    bigram_features = section["model"]["bigram_lexical_features"]
    assert bigram_features > section["model"]["lexical_features"]
    assert f"the +bigrams settings' lexical part: word 1- and 2-grams, TF-IDF ({bigram_features:,} features)" in markdown
    assert "1% cv, 5% cv, 25% cv, 100% cv" in markdown and "| tfidf+lr |" in markdown
    assert "| all (units) | 4 | 8 | 36 | 140 |" in markdown and "| neg | 2 | 4 | 18 | 70 |" in markdown
    assert "![learning curve](learning_curve_classify.png)" in markdown
    assert f"({section['recommended']['0.01']}) |" in markdown.split("| **recommended** |")[1].splitlines()[0]
    summary = format_summary(report)
    assert all(name in summary for name in SETTINGS) and "<- recommended" in summary
    assert "[finetune]" in capsys.readouterr().err


def test_separable_task_from_separate_files(tmp_path, topic_vectors):
    docs = topic_docs(50)
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{l}\n" for l, t in docs[:120]))
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for l, t in docs[120:]))
    config = quick_config(tmp_path / "out", topic_vectors, train=str(train), test=str(test), dev_fraction=0.2,
                          compare=["random", "pretrained"], update_vectors=True)
    report = run_finetune(config)
    assert report["data"]["splits"] == {"train": 96, "dev": 24, "test": 30}
    assert report["data"]["sources"] == {"train": str(train), "test": str(test)}
    section = report["classify"]
    # The primary one is added; the ensemble averages those of them it takes (and the baseline), pretrained's
    # run with bigrams too.
    assert list(section["settings"]) == ["random", "pretrained", "finetuned", "pretrained+bigrams", "ensemble"]
    assert section["class_weight"] == "sqrt"  # auto, for a macro-F1 headline
    run = section["settings"]["pretrained"]["curve"][-1]["runs"][0]
    assert run["dev_score"] == max(run["dev_scores"]) == run["dev_scores"][run["best_epoch"] - 1]
    assert report["primary"] == "finetuned"
    assert section["settings"]["pretrained"]["test_metrics"]["macro_f1"] > 0.9
    assert report["adapt"] is None and "adapted_vectors.bin" not in report["files"]
    finetuned = load_keyed_vectors(tmp_path / "out" / "finetuned_vectors.bin")
    assert len(finetuned) == len(load_keyed_vectors(topic_vectors))


def test_adapt_and_finetune_combined(tmp_path, topic_vectors):
    """Modes adapt + classify with update_vectors fine-tune the adapted vectors, new words included."""
    docs = [(label, f"{text} fresh{label}") for label, text in topic_docs(40)]  # words pretraining never saw
    path = write_fasttext(tmp_path / "data.txt", docs)
    config = quick_config(tmp_path / "out", topic_vectors, dataset=str(path), mode=["classify", "adapt"],
                          compare=["adapted"], update_vectors=True)
    config.finetune.adapt.min_count = 1
    report = run_finetune(config)
    assert report["primary"] == "adapted+finetuned"
    assert list(report["classify"]["settings"]) == ["adapted", "adapted+finetuned", "ensemble"]
    assert report["classify"]["settings"]["adapted+finetuned"]["coverage"]["test"] == 1.0
    pretrained = load_keyed_vectors(topic_vectors)
    adapted = load_keyed_vectors(tmp_path / "out" / "adapted_vectors.bin")
    tuned = load_keyed_vectors(tmp_path / "out" / "finetuned_vectors.bin")
    added = {w for w in adapted.index_to_key if w not in pretrained.key_to_index}
    assert added == {"freshsports", "freshmusic", "freshfood"} and report["adapt"]["words_added"] == 3
    assert sorted(tuned.index_to_key) == sorted(adapted.index_to_key)
    assert all((tuned[w] != adapted[w]).any() for w in added)  # the classifier trained the new rows


def test_tag_mode_on_conll(tmp_path, topic_vectors):
    path = write_conll(tmp_path / "ner.txt", conll_sentences(200))
    report = run_finetune(quick_config(tmp_path / "out", topic_vectors, dataset=str(path), mode=["tag"],
                                       compare=["random", "pretrained"], intrinsic_vocab=0))
    section = report["tag"]
    assert report["data"]["kind"] == "tag" and report["data"]["units"] == "sentences"
    assert section["metric"] == "micro_f1" and section["bio"]
    assert (section["class_weight"], section["select_on"]) == ("none", "score")  # auto: entity F1 counts entities
    assert section["settings"]["random"]["test_metrics"]["micro_f1"] > 0.9
    assert set(section["settings"]["random"]["test_metrics"]["per_type"]) == {"PER", "LOC"}
    assert report["intrinsic"] == {}
    assert (tmp_path / "out" / "confusion_tag.png").read_bytes()[:8] == PNG


def test_adapt_only(tmp_path, topic_vectors):
    path = write_fasttext(tmp_path / "data.txt", topic_docs(10))
    report = run_finetune(quick_config(tmp_path / "out", topic_vectors, dataset=str(path), mode=["adapt"]))
    assert "classify" not in report and report["adapt"]["sentences"] == 30
    assert report["adapt"]["output_weights"].startswith("started fresh")
    assert set(report["intrinsic"]) == {"pretrained", "adapted"}
    assert load_keyed_vectors(tmp_path / "out" / "adapted_vectors.bin").vector_size == 24


def test_existing_output_needs_overwrite(tmp_path, topic_vectors):
    path = write_fasttext(tmp_path / "data.txt", topic_docs(10))
    config = quick_config(tmp_path / "out", topic_vectors, dataset=str(path), mode=["adapt"], intrinsic_vocab=0)
    run_finetune(config)
    with pytest.raises(OutputError, match="overwrite"):
        run_finetune(config)
    config.finetune.overwrite = True
    assert run_finetune(config)["modes"] == ["adapt"]


@pytest.mark.parametrize("changes,message", [
    ({"mode": ["classify", "dance"]}, "finetune.mode must list"),
    ({"mode": ["classify", "tag"]}, "cannot hold both"),
    ({"format": "xml"}, "finetune.format"),
    ({"vectors": ""}, "finetune.vectors is required"),
    ({"output": ""}, "finetune.output is required"),
    ({"train": "x.csv"}, "either finetune.dataset or finetune.train"),
    ({"dataset": "", "dev": "x.csv"}, "dev/test need finetune.train"),
    ({"dev_fraction": 0.6, "test_fraction": 0.5}, "sum below 1"),
    ({"dev_fraction": 0.0}, "dev_fraction > 0"),
    ({"compare": ["random", "glove"]}, "finetune.compare"),
    ({"budgets": [0.0, 1.0]}, "finetune.budgets"),
    ({"repeats": 0}, "must be positive"),
    ({"learning_rate": [0.1, 0.0]}, "learning_rate"),
    ({"learning_rate": []}, "learning_rate"),
    ({"adapt.lock": -1.0}, "finetune.adapt.lock must be at least 0"),
    ({"class_weight": "inverse"}, "finetune.class_weight must be auto, none, sqrt, balanced; got 'inverse'"),
    ({"select_on": "accuracy"}, "finetune.select_on must be score or loss; got 'accuracy'"),
    ({"min_per_class": 0}, "min_per_class must be positive"),
    ({"weighting": "idf"}, "finetune.weighting must be one of mean, tfidf, sif; got 'idf'"),
    ({"lexical_ngrams": 0}, "lexical_ngrams must be at least 1"),
    ({"lexical_l2": [-1.0]}, "lexical_l2 must list values >= 0"),
    ({"hidden": -4}, "hidden"),
    ({"select_by": "test"}, "finetune.select_by must be one of auto, dev, cv; got 'test'"),
    ({"cv_folds": 1}, "cv_folds must be at least 2"),
    ({"baseline_c": [0.0]}, "baseline_c must list positive values"),
])
def test_config_errors(tmp_path, changes, message):
    config = quick_config(tmp_path / "out", tmp_path / "v.bin", dataset=str(tmp_path / "d.txt"))
    for name, value in changes.items():
        section, key = split_name(f"finetune.{name}")
        setattr(section_of(config, section), key, value)
    with pytest.raises(ConfigError, match=message):
        run_finetune(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lines,changes,message", [
    (["__label__a x y"] * 20, {}, "single class"),
    (["__label__a x y", "__label__b y z"] * 10, {"mode": ["tag"]}, "mode tag needs a CoNLL token file"),
    (["__label__a x", "__label__b y"] * 2, {"test_fraction": 0.1, "dev_fraction": 0.1}, "split .* is empty"),
])
def test_data_errors(tmp_path, topic_vectors, lines, changes, message):
    path = tmp_path / "data.txt"
    path.write_text("\n".join(lines) + "\n")
    config = quick_config(tmp_path / "out", topic_vectors, dataset=str(path), **changes)
    with pytest.raises(InputError, match=message):
        run_finetune(config)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_unseen_test_labels_and_mixed_kinds(tmp_path, topic_vectors):
    train = write_fasttext(tmp_path / "train.txt", [("a", "x y"), ("b", "y z")] * 10)
    test = write_fasttext(tmp_path / "test.txt", [("a", "x"), ("c", "z"), ("d", "w")])
    with pytest.raises(InputError, match="labels in test but not in train: c, d"):
        run_finetune(quick_config(tmp_path / "out", topic_vectors, train=str(train), test=str(test)))
    conll = write_conll(tmp_path / "tags.conll", conll_sentences(5))
    with pytest.raises(InputError, match="mix documents and tagged tokens"):
        run_finetune(quick_config(tmp_path / "out", topic_vectors, train=str(train), test=str(conll)))


def test_demo_target_step_says_what_its_data_can_show(tmp_path, lee_dir):
    """The demo's fine-tuning settings on its sentiment set: small budgets, several draws, and a summary
    that calls differences within the noise of 40 test sentences what they are."""
    from shardvec.demo import TARGET_BUDGETS, TARGET_REPEATS, format_demo

    config = quick_config(tmp_path / "out", lee_dir, dataset=datapath("pang_lee_polarity.cor"),
                          budgets=TARGET_BUDGETS, repeats=TARGET_REPEATS, compare=["random", "pretrained"],
                          intrinsic_vocab=0)
    report = run_finetune(config)
    section = report["classify"]
    assert section["budgets"] == TARGET_BUDGETS and section["skipped_budgets"] == []
    assert [d["units"][0] for d in section["budget_draws"]] == [8, 14, 36, 70, 140]
    transfer = section["verdict"]["transfer"]
    assert [t["budget"] for t in transfer] == TARGET_BUDGETS
    assert all(t["noise"] > 0.15 for t in transfer)  # 40 test sentences: about ±0.08 each side
    assert all((t["verdict"] == "within noise") == (abs(t["difference"]) <= t["noise"]) for t in transfer)
    evaluation = {"vocab_size": 1, "analogy": {"accuracy": None, "oov_share": 1.0},
                  "wordsim353": {"spearman": None}, "simlex999": {"spearman": None}}
    text = format_demo({"outputs": {k: "x" for k in ("corpus", "vectors", "evaluation", "finetune")},
                        "seconds": {k: 1.0 for k in ("prepare", "train", "evaluate", "finetune")},
                        "evaluation": evaluation, "finetune": report})
    assert "does pretraining help?" in text
    for t in transfer:
        assert f"at {t['budget']:.0%}: {t['pretrained']} vs {t['without']} (no pretraining)" in text
    assert text.count("within noise") >= sum(t["verdict"] == "within noise" for t in transfer)
    if section["verdict"]["within_noise_of_best"]:
        assert "this data cannot tell them apart" in text and "(within noise)" in format_summary(report)
