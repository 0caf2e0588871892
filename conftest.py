"""Notebooks run in the test suite (nbmake) with small settings: every notebook reads
NFFIT_QUICK from the environment its kernel inherits from pytest."""

import os

os.environ.setdefault("NFFIT_QUICK", "1")

# 03 runs SMC on the 76-region analytic spectrum, which can hang on a CPU: two batched
# LAPACK calls (jax 0.10's ParallelBatchMap) wait on each other in XLA's intra-op pool
# (seen with 32 particles on 2 cores; gdb: both in BlockingCounter::Wait). Until the
# spectrum's solves avoid concurrent LAPACK calls it is not executed by the suite.
collect_ignore = ["notebooks/03_mcmc_and_model_comparison.ipynb"]
