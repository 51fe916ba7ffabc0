"""Quality of a delta merge rule at many shards, without a cluster: the shards train one after another.

    python bench/merge_sim.py --corpus CORPUS_DIR --rule adasum [--lr-scale 3] [--rounds-per-epoch 10]

Each round, one gensim model is loaded with the round's start, trained on
each shard's part in turn, and the shard's sparse delta taken; the deltas are
combined by the rule exactly as the Dask job's reduction tree does (same
code, same tree order) and the update added to the start. Only quality means
anything here (no timing): it lets a rule be judged at 16-128 shards on a
2-core machine. The shards are the corpus's own (``shardvec prepare
--shards K``). Prints one JSON line: settings and intrinsic scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from shardvec.corpus import Corpus
from shardvec.evaluate import intrinsic_scores
from shardvec.train.deltas import add_into, delta_between
from shardvec.train.params import Word2VecParams
from shardvec.train.rules import RuleSettings, make_rule
from shardvec.train.schedule import periodic_rounds
from shardvec.train.materialise import materialise_shard
from shardvec.train.trainer import build_shard_model, get_weights, set_weights, train_round


def simulate(corpus_dir: str, rule_name: str, settings: RuleSettings, seed: int, epochs: int, dtype: str) -> dict:
    corpus = Corpus.open(corpus_dir)
    vocab = corpus.vocab()
    params = Word2VecParams(seed=seed, epochs=epochs)
    rule = make_rule(rule_name, settings)
    n_shards = len(corpus.shards)
    scale = rule.lr_multiplier(n_shards)
    rounds_per_epoch = rule.rounds_per_epoch(n_shards)
    rounds = periodic_rounds(epochs, rounds_per_epoch, params.alpha, params.min_alpha, scale)
    model = build_shard_model(params, vocab)
    start = get_weights(model)
    state, began = None, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="shardvec-sim-") as tmp:
        chunks = [materialise_shard(shard, vocab, rounds_per_epoch, Path(tmp) / f"s{k}")
                  for k, shard in enumerate(corpus.shards)]
        sent = 0
        for rnd in rounds:
            deltas = []
            for k in range(n_shards):
                set_weights(model, start)
                train_round(model, chunks[k], rnd, k, compute_loss=False)
                deltas.append(delta_between(get_weights(model), start, dtype))
                sent += deltas[-1].nbytes
            update, state = rule.step(rule.reduce(deltas, dtype), n_shards, state)
            add_into(start.vectors, update.vectors)
            add_into(start.output, update.output)
            print(f"[sim] round {rnd.index + 1}/{len(rounds)} {time.perf_counter() - began:.0f}s", file=sys.stderr,
                  flush=True)
    set_weights(model, start)
    words_per_round = sum(corpus.shard_tokens) / n_shards / rounds_per_epoch
    return {"rule": rule_name, "shards": n_shards, "lr_multiplier": scale, "rounds_per_epoch": rounds_per_epoch,
            "words_per_shard_round": round(words_per_round), "seed": seed, "dtype": dtype,
            "delta_bytes_per_round": sent // len(rounds), "seconds": round(time.perf_counter() - began, 1),
            **intrinsic_scores(model.wv, 30000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--rule", default="adasum")
    parser.add_argument("--lr-scale", type=float, default=0.0)
    parser.add_argument("--momentum", type=float, default=-1.0)
    parser.add_argument("--block-lr", type=float, default=1.0)
    parser.add_argument("--rounds-per-epoch", type=int, default=0, help="0: the rule's own")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    settings = RuleSettings(lr_scale=args.lr_scale, rounds_per_epoch=args.rounds_per_epoch, momentum=args.momentum,
                            block_lr=args.block_lr)
    result = simulate(args.corpus, args.rule, settings, args.seed, args.epochs, args.dtype)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
