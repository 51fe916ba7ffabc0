"""``train_report.png``: what a training run did, round by round, drawn from ``train_report.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shardvec.plots import figure


def plot_rounds(report: dict[str, Any], path: Path) -> None:
    """Loss (when computed), words/s and MiB moved per round, one panel each."""
    log = report["round_log"]
    rounds = [r["round"] + 1 for r in log]
    panels = [("words/s", [r["words_per_s"] for r in log]), ("MiB moved", [r["bytes_moved"] / 2**20 for r in log])]
    if log and all(r["loss"] is not None for r in log):
        panels.insert(0, ("training loss", [r["loss"] for r in log]))
    fig = figure(6.4, 1.9 * len(panels) + 0.6)
    for i, (label, values) in enumerate(panels, start=1):
        axes = fig.add_subplot(len(panels), 1, i)
        axes.plot(rounds, values, marker="o", markersize=3)
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        if i == len(panels):
            axes.set_xlabel("round")
    fig.suptitle(f"merge {report['merge']}, {report['shards']} shards on {report['workers']} workers, "
                 f"{report['rounds']} rounds")
    fig.tight_layout()
    fig.savefig(path)
