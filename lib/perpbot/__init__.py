"""perpbot: a mean-reversion bot for Hyperliquid perpetual futures, built as a Unix toolchain."""

import os

# perpbot's matrix products are 16x16 blocks: BLAS threads buy nothing there, and a process
# that forks workers (sweeps, big reads) after BLAS has started its threads can deadlock in
# the child. One thread, set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
