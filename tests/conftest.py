"""Session-wide test settings.

The tests work on small matrices, where multithreaded BLAS only adds start-up and spinning
cost, and on a shared machine its threads compete with other jobs (a 3 ms SVD can take
0.6 s, benchmarks/README.md). One BLAS thread per process unless the caller chose otherwise;
this runs before any test module imports numpy, and subprocesses inherit it.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
