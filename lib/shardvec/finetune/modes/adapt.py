"""Mode ``adapt``: continue Word2Vec training of the pretrained model on the target texts.

The work is done by :mod:`shardvec.finetune.adapt` when the vector settings
are built; the mode asks for it even when no compared setting needs it,
writes ``adapted_vectors.bin``, and makes the adapted vectors the base of the
primary setting. It reads any dataset a task reads and combines with one task.
"""

from __future__ import annotations

from shardvec.finetune.task import FinetuneMode


class AdaptMode(FinetuneMode):
    name = "adapt"
    adapts = True
