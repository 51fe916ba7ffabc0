"""The typed config: layers, precedence, and one-line errors naming the key."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

import pytest

from shardvec.cli import build_parser, flags_layer, main
from shardvec.config import (Config, Rule, TrainConfig, defaults_toml, key_help, load_config, section_fields, section_of,
                             sections)
from shardvec.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_default_toml_documents_every_key_with_its_default() -> None:
    text = (REPO / "conf" / "default.toml").read_text()
    assert text == defaults_toml(), "regenerate with: python -m shardvec.config > conf/default.toml"
    loaded = tomllib.loads(text)
    assert loaded == Config().to_dict()
    for section in sections():
        for key in section_fields(section):
            assert f"\n{key} = " in text.split(f"[{section}]")[1].split("\n[")[0]


def test_precedence_flags_over_set_over_env_over_file(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[train]\nwindow = 3\nepochs = 3\nnegative = 3\nsample = 0.5\n")
    env = {"SHARDVEC_TRAIN__EPOCHS": "4", "SHARDVEC_TRAIN__NEGATIVE": "4", "SHARDVEC_TRAIN__SAMPLE": "0.25"}
    cfg = load_config(conf, sets=["train.negative=7", "train.sample=0.125"],
                      flags={"train": {"sample": 0.0625}}, environ=env)
    assert cfg.train.window == 3          # file over defaults (5)
    assert cfg.train.epochs == 4          # env over file
    assert cfg.train.negative == 7        # --set over env
    assert cfg.train.sample == 0.0625     # flag over --set
    assert cfg.train.vector_size == 100   # default untouched


def test_values_parse_like_toml() -> None:
    cfg = load_config(sets=["prepare.input=[\"a\", \"b\"]", "prepare.output=/tmp/x y", "prepare.lowercase=false",
                            "train.alpha=1", "spark.conf={\"spark.ui.enabled\" = false}"], environ={})
    assert cfg.prepare.input == ["a", "b"]
    assert cfg.prepare.output == "/tmp/x y"
    assert cfg.prepare.lowercase is False
    assert cfg.train.alpha == 1.0 and isinstance(cfg.train.alpha, float)
    assert cfg.spark.conf == {"spark.ui.enabled": False}


def test_a_single_learning_rate_is_a_search_of_one() -> None:
    assert load_config(sets=["finetune.learning_rate=0.3"], environ={}).finetune.learning_rate == [0.3]
    assert load_config(sets=["finetune.learning_rate=[1, 0.5]"], environ={}).finetune.learning_rate == [1.0, 0.5]


def test_credentials_never_reach_reports() -> None:
    cfg = load_config(sets=['storage.options={key = "AKIA", secret = "s3cr3t", endpoint_url = "http://x"}',
                            'spark.conf={"spark.hadoop.fs.s3a.secret.key" = "s3cr3t", "spark.ui.port" = "4050"}'],
                      environ={})
    assert cfg.storage.options["secret"] == "s3cr3t"
    assert cfg.to_dict()["storage"]["options"] == {"key": "***", "secret": "***", "endpoint_url": "http://x"}
    assert cfg.to_dict()["spark"]["conf"] == {"spark.hadoop.fs.s3a.secret.key": "***", "spark.ui.port": "4050"}


@pytest.mark.parametrize("sets, message", [
    (["train.windw=3"], "unknown config key 'train.windw'"),
    (["nosuch.key=1"], "unknown config section 'nosuch'"),
    (["train.window=abc"], "config key 'train.window' expects int, got str 'abc'"),
    (["train.window=true"], "config key 'train.window' expects int, got bool"),
    (["prepare.lowercase=1"], "config key 'prepare.lowercase' expects bool"),
    (["window=3"], "must be written section.key"),
    (["train.window"], "expects section.key=value"),
])
def test_bad_keys_and_types_name_the_key(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(sets=sets, environ={})


def test_env_errors_say_where_they_came_from() -> None:
    with pytest.raises(ConfigError, match=r"'vocab.min_count' expects int.*from environment"):
        load_config(environ={"SHARDVEC_VOCAB__MIN_COUNT": "many"})


def test_cli_config_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nwindow = 'wide'\n")
    assert main(["train", "--config", str(bad), "--corpus", "x", "--output", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.window" in err and "Traceback" not in err
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    assert main(["evaluate", "--config", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_example_configs_load() -> None:
    for name in ("local.toml", "cluster.example.toml"):
        path = REPO / "conf" / name
        assert path.is_file(), f"conf/{name} is missing"
        load_config(path, environ={})


@pytest.mark.parametrize("sets, message", [
    (["train.epoch=3"], "unknown config key 'train.epoch' (from --set); did you mean train.epochs?"),
    (["finetune.epoch=3"], "did you mean finetune.epochs?"),       # a tie goes to the key's own section
    (["train.min_count=3"], "did you mean vocab.min_count?"),      # a key in another section
    (["trian.epochs=3"], "unknown config section 'trian'"),
    (["trian.epochs=3"], "did you mean train?"),
    (["finetune.adapt.epoch=3"], "did you mean finetune.adapt.epochs?"),   # its own sub-table before its section
])
def test_an_unknown_key_names_the_nearest_known_one(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(sets=sets, environ={})


def test_an_unknown_key_is_named_nearest_from_every_layer(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[prepare.dedup]\nmodess = [\"exact\"]\n")
    with pytest.raises(ConfigError,
                       match=re.escape(f"'prepare.dedup.modess' (from {conf}); did you mean prepare.dedup.modes?")):
        load_config(conf, environ={})
    with pytest.raises(ConfigError, match=re.escape("(from environment); did you mean vocab.min_count?")):
        load_config(environ={"SHARDVEC_VOCAB__MIN_CONT": "2"})
    assert main(["train", "--set", "train.windows=3", "--corpus", "x", "--output", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("did you mean train.window?")


def test_sub_tables_load_from_every_layer(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[prepare]\nshards = 3\n[prepare.quality]\nenabled = true\nmin_doc_words = 30\n"
                    "[finetune.adapt]\nepochs = 2\n")
    cfg = load_config(conf, sets=["prepare.dedup.modes=[\"exact\"]"],
                      environ={"SHARDVEC_PREPARE__QUALITY__MAX_DOC_WORDS": "400"})
    assert cfg.prepare.shards == 3 and cfg.prepare.quality.enabled and cfg.prepare.quality.min_doc_words == 30
    assert cfg.prepare.quality.max_doc_words == 400 and cfg.prepare.dedup.modes == ["exact"]
    assert cfg.finetune.adapt.epochs == 2 and cfg.finetune.adapt.min_count == 2
    flags = flags_layer(build_parser().parse_args(["prepare", "--quality", "--dedup", "near", "--input", "x"]))
    assert flags == {"prepare.quality": {"enabled": True}, "prepare.dedup": {"modes": ["near"]},
                     "prepare": {"input": ["x"]}}
    assert load_config(flags=flags, environ={}).prepare.dedup.modes == ["near"]


@pytest.mark.parametrize("layer, new", [
    ({"sets": ["prepare.quality=true"]}, "prepare.quality.enabled"),
    ({"sets": ["prepare.min_doc_words=30"]}, "prepare.quality.min_doc_words"),
    ({"sets": ["prepare.dedup=[\"exact\"]"]}, "prepare.dedup.modes"),
    ({"environ": {"SHARDVEC_PREPARE__NEAR_DUP_THRESHOLD": "0.7"}}, "prepare.dedup.near_dup_threshold"),
    ({"sets": ["finetune.adapt_lock=0"]}, "finetune.adapt.lock"),
])
def test_a_renamed_key_names_its_new_name(layer: dict, new: str) -> None:
    old = new.replace(".enabled", "").replace(".modes", "").replace(".quality.", ".").replace(".dedup.", ".") \
        .replace("adapt.", "adapt_")
    with pytest.raises(ConfigError) as error:
        load_config(**{"environ": {}, **layer})
    assert str(error.value).startswith(f"config key '{old}' (") and str(error.value).endswith(f"is now {new}")


def test_the_last_setting_of_a_sub_table_key_wins_however_it_is_written() -> None:
    sets = ["prepare.quality={min_doc_words=1}", "prepare.quality.min_doc_words=2", "prepare.quality={min_doc_words=3}"]
    assert load_config(sets=sets, environ={}).prepare.quality.min_doc_words == 3
    assert load_config(sets=sets[:2], environ={}).prepare.quality.min_doc_words == 2


def test_a_sub_table_given_a_value_says_to_set_its_keys() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(sets=["finetune.adapt=3"], environ={})
    assert str(error.value) == "config key 'finetune.adapt' (from --set) is a table; set finetune.adapt.KEY"


def test_python_code_setting_a_key_that_is_not_there_fails_at_once() -> None:
    from shardvec.config import QualityConfig

    config = Config()
    with pytest.raises(AttributeError, match=re.escape("prepare.quality is now prepare.quality.enabled")):
        config.prepare.quality = True
    with pytest.raises(AttributeError, match=re.escape("finetune.adapt_lock is now finetune.adapt.lock")):
        config.finetune.adapt_lock = 0.0
    with pytest.raises(AttributeError, match=re.escape("finetune.adapt is a table; set finetune.adapt.KEY")):
        config.finetune.adapt = 3
    with pytest.raises(AttributeError, match="TrainConfig has no key 'epoch'"):
        config.train.epoch = 3
    config.prepare.quality = QualityConfig(enabled=True)  # a whole sub-table may be replaced by one
    assert config.validate().prepare.quality.enabled


def test_a_renamed_key_in_a_file_names_its_new_name(tmp_path: Path) -> None:
    conf = tmp_path / "old.toml"
    conf.write_text("[finetune]\nadapt_epochs = 3\n")
    with pytest.raises(ConfigError, match=re.escape(f"config key 'finetune.adapt_epochs' (from {conf}) is now "
                                                    "finetune.adapt.epochs")):
        load_config(conf, environ={})


def test_a_key_far_from_every_known_one_gets_no_guess() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(sets=["train.zzzz=1"], environ={})
    assert str(error.value) == "unknown config key 'train.zzzz' (from --set)"


@pytest.mark.parametrize("sets, message", [
    (["prepare.phrase_passes=5"], "prepare.phrase_passes must be in [0, 4]; got 5"),
    (["prepare.dedup.near_dup_threshold=0"], "prepare.dedup.near_dup_threshold must be in (0, 1]; got 0.0"),
    (["vocab.min_count=0"], "vocab.min_count must be at least 1; got 0"),
    (["train.window=0"], "train.window must be positive; got 0"),
    (["train.hs=2"], "train.hs must be one of 0, 1; got 2"),
    (["finetune.dev_fraction=1"], "finetune.dev_fraction must be in [0, 1); got 1.0"),
    (["finetune.budgets=[0.5, 2]"], "finetune.budgets must list values in (0, 1]; got 2.0"),
    (["finetune.mode=[]"], "finetune.mode must list at least one value"),
    (["prepare.dedup.modes=[\"exact\", \"fuzzy\"]"],
     "prepare.dedup.modes must list only exact, lines, near; got 'fuzzy'"),
    (["train.negative=0"], "set train.negative > 0 or train.hs = 1"),                  # a contradiction of two keys
    (["finetune.dev_fraction=0.5", "finetune.test_fraction=0.5"], "must sum below 1"),
])
def test_a_bound_declared_beside_its_key_is_checked_when_loading(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(sets=sets, environ={})


def test_a_bound_declared_beside_its_key_is_checked_on_a_config_built_in_python() -> None:
    config = Config()
    assert config.validate() is config
    config.train.min_alpha = 0.0
    with pytest.raises(ConfigError, match=re.escape("train.min_alpha must be positive; got 0.0")):
        config.validate()
    rule = section_fields("train")["min_alpha"].metadata["rule"]
    assert rule == Rule(gt=0) and rule.problem("train.min_alpha", 0.0001) is None


def test_choices_owned_by_a_registry_follow_the_registry() -> None:
    from shardvec.readers import FORMATS
    from shardvec.text.pii import PII_KINDS
    from shardvec.train.rules import RULES

    fields = section_fields("prepare")
    assert fields["format"].metadata["rule"].names() == FORMATS
    assert fields["mask_pii"].metadata["rule"].names() == PII_KINDS
    assert section_fields("train")["merge"].metadata["rule"].names() == tuple(RULES)
    with pytest.raises(ConfigError, match=re.escape(f"prepare.format must be one of {', '.join(FORMATS)}; got 'xml'")):
        load_config(sets=["prepare.format=xml"], environ={})


def test_every_rule_allows_its_default_and_every_wording_names_every_choice() -> None:
    defaults = Config()
    for section in sections():
        for key, f in section_fields(section).items():
            rule: Rule = f.metadata["rule"]
            assert rule.problem(f"{section}.{key}", getattr(section_of(defaults, section), key)) is None, key
            if rule.choices is not None:
                said = rule.problem(f"{section}.{key}", "no such value") or ""
                assert all(str(name) in said for name in rule.names()), said


def test_cli_flags_take_their_help_from_the_key_they_set() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    keyed = [(name, action) for name, command in commands.items() for action in command._actions if "." in action.dest]
    assert len(keyed) > 30
    for name, action in keyed:
        if action.dest != "train.merge":  # its help lists the merge rules' own summaries
            assert action.help.startswith(key_help(action.dest)), (name, action.option_strings)


def test_word2vec_params_are_the_train_keys_with_their_declared_defaults() -> None:
    from shardvec.train.params import GENSIM_KEYS, Word2VecParams

    train = TrainConfig()
    assert Word2VecParams().to_dict() == {key: getattr(train, key) for key in GENSIM_KEYS}
    assert Word2VecParams.from_config(TrainConfig(window=3, sg=0)) == Word2VecParams(window=3, sg=0)


def test_merge_rule_settings_are_the_train_keys_with_their_declared_defaults() -> None:
    from shardvec.train.rules import RuleSettings

    train = TrainConfig()
    assert RuleSettings() == RuleSettings(lr_scale=train.lr_scale, rounds_per_epoch=train.rounds_per_epoch,
                                          momentum=train.momentum, block_lr=train.block_lr)
    assert RuleSettings.from_config(TrainConfig(momentum=0.5, block_lr=2.0)) == RuleSettings(momentum=0.5, block_lr=2.0)


def test_every_default_obeys_its_rule() -> None:
    """Validation skips keys at their default, so every default must pass its own rule."""
    for name, section in sections().items():
        instance = section()
        for key, field in section_fields(name).items():
            assert field.metadata["rule"].problem(f"{name}.{key}", getattr(instance, key)) is None, f"{name}.{key}"
    assert list(Config().validate().train.problems("train")) == []


def test_loading_the_defaults_imports_no_stage_library() -> None:
    import subprocess
    import sys

    code = ("import sys; from shardvec.config import load_config; load_config(None); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'sklearn', 'gensim', 'pyspark'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
