"""Calibration studies: data sets simulated from the priors, and the checks that a
calibrated posterior passes (interval coverage, simulation-based calibration ranks).

Used by the recovery test (tests/test_recovery.py) and ``benchmarks/sbc.py``; run them on
your own problem to see whether its priors, likelihood and sampler settings are honest.
"""

from __future__ import annotations

import jax
import numpy as np
from jax import Array

from nffit.errors import NffitError
from nffit.log_density import make_log_density, problem_psd

__all__ = ["prior_replicates", "interval_coverage", "sbc_ranks"]


def prior_replicates(problem, rng_key: Array, replicates: int, dof: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Truths drawn from the priors (valid parameter sets only) and their noisy spectra.

    Each spectrum is the model spectrum times Gamma(dof/2, rate dof/2) noise per ordinate,
    the distribution of a Welch estimate with ``dof`` degrees of freedom.

    ``problem`` may be a :class:`~nffit.hierarchical.GroupProblem`: each replicate is then a
    group of recordings drawn from the hierarchical prior.

    Returns
    -------
    truths : dict name -> (R,) constrained values ((R, recordings) for per-recording ones);
    observed : (R, C, F), or (R, recordings, C, F) for a group
    """
    density = make_log_density(problem)
    key_draws, key_noise = jax.random.split(rng_key)
    candidates = jax.vmap(density.sample_prior)(jax.random.split(key_draws, 4 * replicates))
    psd, ok = jax.jit(jax.vmap(lambda x: problem_psd(problem, density.constrain(x))))(candidates)
    keep = np.flatnonzero(np.asarray(ok))[:replicates]
    if keep.size < replicates:
        raise NffitError(f"only {keep.size} of {4 * replicates} prior draws are valid; narrow the priors")
    truths = {n: np.asarray(v)[keep] for n, v in jax.vmap(density.constrain)(candidates).items()}
    noise = np.asarray(jax.random.gamma(key_noise, dof / 2, (replicates,) + problem.observed.shape)) / (dof / 2)
    return truths, np.asarray(psd)[keep] * noise


def interval_coverage(draws: np.ndarray, truths: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Whether the central ``level`` interval of each replicate's draws (R, S) holds its truth (R,)."""
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return (lo <= truths) & (truths <= hi)


def sbc_ranks(draws: np.ndarray, truths: np.ndarray, thin: int = 99) -> np.ndarray:
    """Rank of each truth (R,) among ``thin`` evenly spaced draws of its replicate (R, S): 0..thin,
    uniform for a calibrated posterior (Talts et al. 2018)."""
    index = np.linspace(0, draws.shape[1] - 1, thin).astype(int)
    return np.sum(draws[:, index] < truths[:, None], axis=1)
