"""Entry point for batch schedulers: the same flags and meaning as `shardvec finetune`.

    python jobs/finetune.py --vectors PATH --dataset FILE --output DIR
"""

import sys

from shardvec.cli import main

if __name__ == "__main__":
    sys.exit(main(["finetune", *sys.argv[1:]]))
