"""Adaptive tempered SMC (blackjax) whose particles are the spectrum's batch.

The target moves from the prior to the posterior through ``prior * likelihood^beta``; each
step picks the next ``beta`` so that the effective sample size falls to ``target_ess`` of
the particles, resamples (systematic), and moves every particle with ``mcmc_steps``
random-walk Metropolis steps whose Gaussian proposal has ``2.38^2 / D`` times the particles'
weighted covariance (correlated parameters move along their ridge). blackjax maps the log
density over particles with ``jax.vmap``; nffit's spectra fold that map into their own batch
(:mod:`nffit.batching`), so every evaluation is one batched spectrum (or one simulation of
particles x windows) call. No gradients are used:
SMC works on the simulated path too (limit cycles).

Invalid parameter sets have log-likelihood -inf; inside SMC it is clamped to ``-1e30`` so that
``0 * loglik`` stays 0 at ``beta = 0``; such particles get zero weight at the first positive
``beta``. Every step is checkpointed when asked, and a resumed run continues at the same step
with the same keys (``fold_in(key, step)``).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.mcmc import random_walk
from jax import Array

from nffit.checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from nffit.errors import NffitError
from nffit.log_density import make_log_density
from nffit.posterior import Posterior

__all__ = ["run_smc", "INVALID_LOGLIK"]

INVALID_LOGLIK = -1e30


def _rw_step(rng_key, state, logdensity_fn, scale):
    """Gaussian random-walk Metropolis step; ``scale`` (D, D) is the proposal's Cholesky factor."""
    return random_walk.build_additive_step()(rng_key, state, logdensity_fn, random_walk.normal(scale))


def _proposal_factor(particles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cholesky factor (D, D) of the random-walk proposal: the particles' weighted covariance
    scaled by 2.38^2 / D (Roberts & Rosenthal's optimum for Gaussian targets), so correlated
    posteriors (G with mu) are explored along their ridges."""
    d = particles.shape[1]
    w = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1.0 / len(weights))
    mean = w @ particles
    cov = (particles - mean).T @ ((particles - mean) * w[:, None])
    cov = cov + np.diag(np.maximum(1e-8, 1e-6 * np.diag(cov)))
    try:
        return 2.38 / np.sqrt(d) * np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:  # degenerate particle cloud: fall back to the marginal spreads
        return np.diag(2.38 / np.sqrt(d) * np.sqrt(np.maximum(np.diag(cov), 1e-8)))


@functools.lru_cache(maxsize=4)
def _compiled(density, target_ess: float, mcmc_steps: int):
    """Jitted SMC step and batched log-likelihood of a density (compiled once per problem)."""
    loglik = lambda x: jnp.maximum(density.loglik(x), INVALID_LOGLIK)  # noqa: E731
    kernel = blackjax.smc.adaptive_tempered.build_kernel(density.logprior, loglik, _rw_step, random_walk.init,
                                                         blackjax.smc.resampling.systematic, target_ess)
    step = jax.jit(lambda key, state, scale: kernel(key, state, mcmc_steps, {"scale": scale}))
    return step, jax.jit(jax.vmap(loglik))


def run_smc(problem, rng_key: Array, *, particles: int = 1024, target_ess: float = 0.5, mcmc_steps: int = 10,
            max_steps: int = 500, checkpoint: str | Path | None = None, resume: bool = False,
            progress: bool = False) -> Posterior:
    """Adaptive tempered SMC from the priors to the posterior.

    Parameters
    ----------
    problem : FitProblem (analytic or simulated path)
    rng_key : PRNG key
    particles : int, the batch of every spectrum call
    target_ess : float in (0, 1), fraction of particles kept effective per step
    mcmc_steps : int, random-walk moves per step
    max_steps : int, give up (NffitError) if beta has not reached 1
    checkpoint, resume : ``.npz`` file written after every step; continue from it
    progress : print one line per step

    Returns
    -------
    Posterior with one chain of ``particles`` equally weighted draws (resampled at the end);
    sample_stats ``loglik``; attrs ``log_evidence``, ``n_steps``, ``tempering`` (the betas),
    ``invalid_per_step`` (particles left at an invalid parameter set after each step: their
    weight is 0) and ``acceptance_per_step``.
    """
    if not 0.0 < target_ess < 1.0:
        raise NffitError(f"target_ess must be between 0 and 1, got {target_ess}")
    density = make_log_density(problem)
    step, batched_loglik = _compiled(density, float(target_ess), int(mcmc_steps))
    key_init, key_steps, key_final = jax.random.split(rng_key, 3)
    tag = run_fingerprint(problem, rng_key, {"method": "smc", "particles": particles, "target_ess": target_ess,
                                             "mcmc_steps": mcmc_steps})
    saved = load_checkpoint(checkpoint, tag) if (checkpoint and resume) else None
    started = time.perf_counter()
    step_times: list[float] = []
    if saved is None:
        x = jax.vmap(density.sample_prior)(jax.random.split(key_init, particles))
        state = blackjax.smc.adaptive_tempered.init(x)
        saved = {"step": 0, "log_evidence": 0.0, "tempering": np.zeros(0), "invalid": np.zeros(0, int),
                 "acceptance": np.zeros(0)}
    else:
        state = blackjax.smc.tempered.TemperedSMCState(jnp.asarray(saved["particles"]), jnp.asarray(saved["weights"]),
                                                      jnp.asarray(saved["beta"]))
    while float(state.tempering_param) < 1.0:
        index = int(saved["step"])
        if index >= max_steps:
            raise NffitError(f"SMC did not reach the posterior in {max_steps} steps; use more particles or raise max_steps")
        scale = jnp.asarray(_proposal_factor(np.asarray(state.particles), np.asarray(state.weights)), jnp.float32)[None]
        tick = time.perf_counter()
        state, info = jax.block_until_ready(step(jax.random.fold_in(key_steps, index), state, scale))
        step_times.append(time.perf_counter() - tick)
        saved.update(step=index + 1, particles=state.particles, weights=state.weights, beta=state.tempering_param,
                     log_evidence=float(saved["log_evidence"]) + float(info.log_likelihood_increment),
                     tempering=np.append(saved["tempering"], float(state.tempering_param)),
                     invalid=np.append(saved["invalid"], int(np.sum(np.asarray(state.weights) == 0.0))),
                     acceptance=np.append(saved["acceptance"], float(np.mean(info.update_info.acceptance_rate))))
        if checkpoint:
            save_checkpoint(checkpoint, tag, saved)
        if progress:
            print(f"SMC step {index + 1}: beta {float(state.tempering_param):.4f}, acceptance "
                  f"{saved['acceptance'][-1]:.2f}, invalid {saved['invalid'][-1]} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)

    chosen = blackjax.smc.resampling.systematic(key_final, state.weights, particles)
    final = state.particles[chosen]
    constrained = jax.vmap(density.constrain)(final)
    return Posterior("smc", {n: np.asarray(v)[None] for n, v in constrained.items()},
                     {"loglik": np.asarray(batched_loglik(final))[None]},
                     {"log_evidence": float(saved["log_evidence"]), "n_steps": int(saved["step"]),
                      "tempering": np.asarray(saved["tempering"]), "invalid_per_step": np.asarray(saved["invalid"]),
                      "acceptance_per_step": np.asarray(saved["acceptance"]),
                      "wall_time_s": time.perf_counter() - started, "step_times_s": np.asarray(step_times)})
