"""The fine-tune modes by name: what ``finetune.mode`` accepts, the CLI lists and the pipeline runs.

A mode is one module here with one :class:`~shardvec.finetune.task.FinetuneMode`
subclass; a supervised one subclasses :class:`~shardvec.finetune.task.Task`.
Registering it is one line in ``MODES`` (the order is the order that help and
error messages list them in).
"""

from __future__ import annotations

from shardvec.errors import ConfigError
from shardvec.finetune.modes.adapt import AdaptMode
from shardvec.finetune.modes.classify import ClassifyTask
from shardvec.finetune.modes.tag import TagTask
from shardvec.finetune.task import FinetuneMode, Task

__all__ = ["MODES", "TASKS", "find_mode", "task_reading"]

MODES: dict[str, type[FinetuneMode]] = {mode.name: mode for mode in (ClassifyTask, AdaptMode, TagTask)}
# The supervised modes; a run holds at most one, since each reads its own kind of data.
TASKS: dict[str, type[Task]] = {name: mode for name, mode in MODES.items() if issubclass(mode, Task)}


def find_mode(name: str) -> type[FinetuneMode]:
    """The mode registered as ``name``."""
    try:
        return MODES[name]
    except KeyError:
        raise ConfigError(f"unknown finetune mode {name!r}; known modes: {', '.join(MODES)}") from None


def task_reading(fmt: str) -> type[Task]:
    """The task whose data comes in files of format ``fmt``."""
    return next(task for task in TASKS.values() if fmt in task.formats)
