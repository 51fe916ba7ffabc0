"""Entry point for batch schedulers: the same flags and meaning as `shardvec train`.

    python jobs/train.py --corpus DIR --output DIR [--scheduler tcp://HOST:8786]
"""

import sys

from shardvec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
