"""Progress lines go through logging: what each verbosity prints, and that importing shardvec leaves gensim alone."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gensim_data

from shardvec.cli import main
from shardvec.logs import PROGRESS, QUIET, VERBOSE, show_progress, stage_logger


@pytest.fixture
def restore_progress():
    yield
    show_progress(PROGRESS)  # the session's setting (conftest)


@pytest.mark.parametrize("verbosity, shown", [
    (QUIET, {"[train] warning: w"}),
    (PROGRESS, {"[train] warning: w", "[train] round 1"}),
    (VERBOSE, {"[train] warning: w", "[train] round 1", "[train] detail", "gensim says"}),
])
def test_each_verbosity_prints_its_lines_alone_on_stderr(verbosity: int, shown: set[str], restore_progress,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    show_progress(verbosity)
    show_progress(verbosity)  # again: replaces, never doubles the lines
    log = stage_logger("shardvec.somewhere", "train")
    log.warning("warning: w")
    log.info("round 1")
    log.debug("detail")
    logging.getLogger("gensim.models.word2vec").info("gensim says")
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [line for line in ["[train] warning: w", "[train] round 1",
                                                                "[train] detail", "gensim says"] if line in shown]


def test_importing_shardvec_changes_no_log_level_and_prints_nothing() -> None:
    code = ("import logging, shardvec.api, shardvec.train.trainer, shardvec.finetune.adapt, shardvec.evaluate, "
            "shardvec.dask.train_job; from shardvec.logs import stage_logger; "
            "stage_logger('shardvec.x', 'train').info('not configured: not printed'); "
            "print(logging.getLogger('gensim').level, logging.getLogger('shardvec').level)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0", "0"] and proc.stderr == ""


def test_quiet_prepare_prints_no_progress_but_the_result(spark, tmp_path: Path, restore_progress,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prepare", "--input", gensim_data("lee_background.cor"), "--master", "local[2]", "--min-count", "2"]
    assert main([*args, "--output", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    assert main([*args, "--output", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "[prepare] reading" in loud.err and "records in" in loud.err
    assert "[prepare]" not in quiet.err and quiet.out.strip() == str(tmp_path / "quiet")


def test_a_programs_own_gensim_setting_is_left_alone_unless_verbose_was_asked(restore_progress) -> None:
    gensim = logging.getLogger("gensim")
    before = gensim.level
    try:
        gensim.setLevel(logging.ERROR)
        show_progress(PROGRESS)
        assert gensim.level == logging.ERROR and gensim.propagate
        show_progress(VERBOSE)
        show_progress(PROGRESS)  # undoes what VERBOSE did, and only that
        assert gensim.level == logging.NOTSET and gensim.propagate
        assert all(isinstance(h, logging.NullHandler) for h in gensim.handlers)  # gensim's own only
    finally:
        gensim.setLevel(before)
