"""Entry point for batch schedulers: the same flags and meaning as `shardvec prepare`.

    spark-submit jobs/prepare.py --input PATH... --output DIR [--master URL] [--set k=v]
"""

import sys

from shardvec.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
