"""Entry point for batch schedulers: the same flags and meaning as `shardvec evaluate`.

    python jobs/evaluate.py --vectors PATH [--output FILE]
"""

import sys

from shardvec.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
