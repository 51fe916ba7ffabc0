"""What every Python task of prepare does first in its Spark worker."""

from __future__ import annotations

import gc


def start_task() -> None:
    """Move every object alive now into the garbage collector's permanent generation (``gc.freeze``).

    Why: a worker runs task after task, PySpark's daemon collects garbage
    after each, and Python's collector runs by itself while a task allocates;
    every full pass walked each object the imports had made (some 85,000:
    pyarrow, numpy, pyspark, shardvec), about 20 ms a pass. What is alive when
    a task starts outlives it (the daemon has just collected the last task's
    garbage), so the collector need not look at it again; the task's own
    garbage is collected as before. A warm 100 MB run of the prepare bench:
    the workers' CPU 0.3 core-seconds less (``bench/RESULTS.md``, "Prepare:
    workers that keep their memory").
    """
    gc.freeze()
