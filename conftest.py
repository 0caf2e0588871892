"""Suite-wide settings.

* Notebooks run in the test suite (nbmake) with small settings: every notebook reads
  NFFIT_QUICK from the environment its kernel inherits from pytest.
* One JAX persistent compilation cache (``.jax_cache/``, ignored by git) for the pytest
  workers and the notebook kernels: tests that rebuild the same problem, in another file or
  another process, reuse the compiled program instead of compiling it again.
"""

import os
from pathlib import Path

import jax

os.environ.setdefault("NFFIT_QUICK", "1")
CACHE = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).parent / ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", CACHE)

# Notebook 03 runs in the suite in quick mode (MAP + Laplace for its LOO variants, 200 Laplace
# draws): 265 s of a fresh clone's 803 s on 2 cores, the longest file with the real-EEG test.
#
# Longest first (measured on 2 cores), so that no long test starts last and runs alone: the
# Makefile runs `-n 2 --dist loadfile --no-loadscope-reorder`, which hands out files in this
# order (a light file sits between the two longest so that the worker busy with the first
# does not hold the next heavy one in its queue).
LONGEST_FIRST = ("03_mcmc_and_model_comparison.ipynb", "test_real_eeg_fit.py", "test_config.py", "test_recovery.py", "test_samplers.py", "test_cli_fit.py",
                 "01_fit_eeg_spectrum.ipynb", "test_inference.py", "test_analytic_spectrum.py", "test_montbrio.py",
                 "02_batching_and_speed.ipynb")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept
