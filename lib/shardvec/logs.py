"""Progress lines through :mod:`logging`, printed as they are by the ``shardvec`` command.

Every module logs to ``logging.getLogger(__name__)``, under the
``shardvec`` logger, through :func:`stage_logger`, which starts each line
with the stage it belongs to (``[prepare]``, ``[train]``, ...). A program
that calls :mod:`shardvec.api` decides where the lines go, as with any
library; the command (and a program that wants the same lines) calls
:func:`show_progress`::

    from shardvec.logs import show_progress
    show_progress()          # the progress lines, on stderr
    show_progress(QUIET)     # warnings only
    show_progress(VERBOSE)   # and gensim's own INFO lines

No module changes another library's log level when it is imported.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, MutableMapping

QUIET, PROGRESS, VERBOSE = -1, 0, 1
_LEVELS = {QUIET: logging.WARNING, PROGRESS: logging.INFO, VERBOSE: logging.DEBUG}


class _Prefixed(logging.LoggerAdapter):
    """Puts ``[stage] `` before each message, so the printed line reads as it always has."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self.extra['stage']}] {msg}", kwargs


def stage_logger(name: str, stage: str) -> logging.LoggerAdapter:
    """``logging.getLogger(name)`` whose messages start with ``[stage]``."""
    return _Prefixed(logging.getLogger(name), {"stage": stage})


class _StderrHandler(logging.Handler):
    """The message alone, on whatever ``sys.stderr`` is when the line is written (so captured streams see it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def show_progress(verbosity: int = PROGRESS) -> None:
    """Print shardvec's lines on stderr at ``verbosity``; calling it again replaces the earlier setting.

    gensim's INFO lines (one per training progress tick) join only at
    VERBOSE, and only those of this process (shard trainers run in Dask
    workers); at the other levels gensim's logger is left as the program
    set it.
    """
    _attach("shardvec", _LEVELS[verbosity])
    _attach("gensim", logging.INFO if verbosity == VERBOSE else None)


def _attach(name: str, level: int | None) -> None:
    """Our handler on logger ``name`` at ``level``; None takes ours off and gives the logger back its defaults."""
    logger = logging.getLogger(name)
    ours = [h for h in logger.handlers if isinstance(h, _StderrHandler)]
    for old in ours:
        logger.removeHandler(old)
    if level is None:
        if ours:  # undo only what an earlier call did; a program's own settings stay
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # printed here once, not again by a handler the program put on the root
