"""Adaptive tempered SMC whose particles are the spectrum's batch.

The target moves from the prior to the posterior through ``prior * likelihood^beta``
(Del Moral, Doucet & Jasra 2006). Each step

1. picks the next ``beta`` by bisection so that the effective sample size of the incremental
   weights ``likelihood^(beta' - beta)`` is ``target_ess`` of the particles (host, float64),
2. resamples systematically (blackjax's ``smc.resampling.systematic``), then
3. moves every particle with ``mcmc_steps`` random-walk Metropolis steps at ``beta'``, whose
   Gaussian proposal is ``2.38^2 / D`` times the particles' weighted covariance (correlated
   parameters move along their ridge; Roberts & Rosenthal's scaling).

The state keeps every particle's log-likelihood and log prior, so a step evaluates the
likelihood exactly once per move: one batched spectrum (or one simulation of particles x
windows) call, no per-particle loop, no gradients (SMC works on the simulated path too:
limit cycles). blackjax's own ``adaptive_tempered`` kernel re-evaluates the same particles up
to three more times per step, two of them independently; on a CPU those two batched LAPACK
solves run at once and can deadlock jax 0.10's thread pool (docs/installation.md). The
algorithm is the same; the API is an ``init`` / ``step`` pair over a NamedTuple state.

Invalid parameter sets have log-likelihood -inf; here it is clamped to ``-1e30`` so that
``0 * loglik`` stays 0 at ``beta = 0``; such particles get zero weight at the first positive
``beta``. Every step is checkpointed when asked, and a resumed run continues at the same step
with the same keys (``fold_in(key, step)``).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.smc.resampling import systematic
from jax import Array
from scipy.special import logsumexp

from nffit.checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from nffit.errors import NffitError
from nffit.log_density import LogDensity, make_log_density
from nffit.posterior import Posterior
from nffit.sharding import split_over_devices

__all__ = ["SMCState", "init", "next_beta", "proposal_factor", "step", "run_smc", "INVALID_LOGLIK"]

INVALID_LOGLIK = -1e30


class SMCState(NamedTuple):
    """Equally weighted particles at one tempering exponent.

    Attributes
    ----------
    particles : Array (P, D), unconstrained positions
    loglik : Array (P,), log-likelihood, clamped at ``INVALID_LOGLIK``
    logprior : Array (P,), log prior (Jacobian included)
    beta : Array (), tempering exponent in [0, 1]
    """

    particles: Array
    loglik: Array
    logprior: Array
    beta: Array


def next_beta(loglik: np.ndarray, beta: float, target_ess: float) -> float:
    """Largest ``beta' <= 1`` whose incremental weights ``exp((beta' - beta) loglik)`` keep an
    effective sample size of at least ``target_ess * P`` (bisection, float64).

    >>> float(next_beta(np.zeros(8), 0.0, 0.5))  # a flat likelihood goes straight to 1
    1.0
    """
    loglik = np.asarray(loglik, np.float64)

    def ess_fraction(delta):
        w = np.exp(delta * loglik - np.max(delta * loglik))
        return w.sum() ** 2 / (w**2).sum() / loglik.size

    if ess_fraction(1.0 - beta) >= target_ess:
        return 1.0
    low, high = 0.0, 1.0 - beta
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if ess_fraction(mid) >= target_ess else (low, mid)
    return beta + max(low, 1e-12)


def proposal_factor(particles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cholesky factor (D, D) of the random-walk proposal: the particles' (P, D) covariance
    under ``weights`` (P,) scaled by 2.38^2 / D (Roberts & Rosenthal's optimum for Gaussian
    targets), so correlated posteriors (G with mu) are explored along their ridges."""
    particles = np.asarray(particles, np.float64)
    d = particles.shape[1]
    w = weights / weights.sum()
    mean = w @ particles
    cov = (particles - mean).T @ ((particles - mean) * w[:, None])
    cov = cov + np.diag(np.maximum(1e-8, 1e-6 * np.diag(cov)))
    try:
        return 2.38 / np.sqrt(d) * np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:  # degenerate particle cloud: fall back to the marginal spreads
        return np.diag(2.38 / np.sqrt(d) * np.sqrt(np.maximum(np.diag(cov), 1e-8)))


def _evaluate(density: LogDensity, x: Array) -> tuple[Array, Array]:
    """Batched (P,) clamped log-likelihood and log prior of positions ``x`` (P, D), the particles
    split over the local devices (:func:`nffit.sharding.split_over_devices`)."""
    loglik, logprior = split_over_devices(lambda p: (jax.vmap(density.loglik)(p), jax.vmap(density.logprior)(p)), x)
    return jnp.where(jnp.isnan(loglik), INVALID_LOGLIK, jnp.maximum(loglik, INVALID_LOGLIK)), logprior


def init(density: LogDensity, particles: Array) -> SMCState:
    """State at ``beta = 0`` from prior draws ``particles`` (P, D)."""
    loglik, logprior = _evaluate(density, particles)
    return SMCState(particles, loglik, logprior, jnp.zeros((), loglik.dtype))


def step(density: LogDensity, rng_key: Array, state: SMCState, weights: Array, beta: Array, scale: Array,
         mcmc_steps: int) -> tuple[SMCState, Array]:
    """Resample by ``weights`` (P,) and move ``mcmc_steps`` times at the new ``beta``.

    ``scale`` (D, D) is the proposal's Cholesky factor (:func:`proposal_factor`). Returns the
    new state and the mean acceptance rate of the moves.
    """
    key_resample, key_moves = jax.random.split(rng_key)
    chosen = systematic(key_resample, weights, weights.shape[0])
    start = SMCState(state.particles[chosen], state.loglik[chosen], state.logprior[chosen], beta)

    def move(current: SMCState, key):
        key_proposal, key_accept = jax.random.split(key)
        proposal = current.particles + jax.random.normal(key_proposal, current.particles.shape) @ scale.T
        loglik, logprior = _evaluate(density, proposal)
        log_ratio = logprior + beta * loglik - (current.logprior + beta * current.loglik)
        accept = jnp.log(jax.random.uniform(key_accept, log_ratio.shape)) < jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        pick = lambda new, old: jnp.where(accept.reshape(accept.shape + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
        return SMCState(pick(proposal, current.particles), pick(loglik, current.loglik),
                        pick(logprior, current.logprior), beta), jnp.mean(accept)

    final, acceptance = jax.lax.scan(move, start, jax.random.split(key_moves, mcmc_steps))
    return final, jnp.mean(acceptance)


@functools.lru_cache(maxsize=4)
def _compiled(density: LogDensity, mcmc_steps: int) -> tuple[Callable, Callable]:
    """Jitted ``init`` and ``step`` of a density (compiled once per problem)."""
    return (jax.jit(functools.partial(init, density)),
            jax.jit(functools.partial(step, density, mcmc_steps=mcmc_steps)))


def run_smc(problem, rng_key: Array, *, particles: int = 1024, target_ess: float = 0.5, mcmc_steps: int = 10,
            max_steps: int = 500, checkpoint: str | Path | None = None, resume: bool = False,
            progress: bool = False) -> Posterior:
    """Adaptive tempered SMC from the priors to the posterior.

    Parameters
    ----------
    problem : FitProblem (analytic or simulated path), or a :class:`~nffit.log_density.LogDensity`
        (then without checkpoints, which fingerprint the problem's data)
    rng_key : PRNG key
    particles : int, the batch of every spectrum call
    target_ess : float in (0, 1), fraction of particles kept effective per step
    mcmc_steps : int, random-walk moves per step
    max_steps : int, give up (NffitError) if beta has not reached 1
    checkpoint, resume : ``.npz`` file written after every step; continue from it
    progress : print one line per step

    Returns
    -------
    Posterior with one chain of ``particles`` equally weighted draws; sample_stats ``loglik``;
    attrs ``log_evidence``, ``n_steps``, ``tempering`` (the betas), ``invalid_per_step``
    (particles at an invalid parameter set when each step reweighted: their weight is 0),
    ``ess_per_step`` (effective sample size of each step's weights) and
    ``acceptance_per_step``.

    Examples
    --------
    >>> posterior = run_smc(problem, jax.random.key(0), particles=256)  # doctest: +SKIP
    >>> posterior.attrs["log_evidence"]  # doctest: +SKIP
    """
    if not 0.0 < target_ess < 1.0:
        raise NffitError(f"target_ess must be between 0 and 1, got {target_ess}")
    if isinstance(problem, LogDensity):
        if checkpoint:
            raise NffitError("SMC checkpoints need a FitProblem (they fingerprint its data), not a LogDensity")
        density = problem
    else:
        density = make_log_density(problem)
    init_fn, step_fn = _compiled(density, int(mcmc_steps))
    key_init, key_steps = jax.random.split(rng_key)
    saved = None
    if checkpoint:
        tag = run_fingerprint(problem, rng_key, {"method": "smc", "particles": particles, "target_ess": target_ess,
                                                 "mcmc_steps": mcmc_steps, "kernel": "nffit-tempered-2"})
        saved = load_checkpoint(checkpoint, tag) if resume else None
    started = time.perf_counter()
    step_times: list[float] = []
    if saved is None:
        state = init_fn(jax.vmap(density.sample_prior)(jax.random.split(key_init, particles)))
        saved = {"step": 0, "log_evidence": 0.0, "tempering": np.zeros(0), "invalid": np.zeros(0, int),
                 "ess": np.zeros(0), "acceptance": np.zeros(0)}
    else:
        state = SMCState(*(jnp.asarray(saved[name]) for name in SMCState._fields))
    while float(state.beta) < 1.0:
        index = int(saved["step"])
        if index >= max_steps:
            raise NffitError(f"SMC did not reach the posterior in {max_steps} steps; use more particles or raise max_steps")
        loglik = np.asarray(state.loglik, np.float64)
        invalid = loglik <= INVALID_LOGLIK
        if invalid.all():
            raise NffitError("every SMC particle is at an invalid parameter set (unstable or no fixed point); "
                             "narrow the priors towards the stable regime")
        beta = next_beta(loglik, float(state.beta), target_ess)
        log_weights = (beta - float(state.beta)) * loglik
        log_total = logsumexp(log_weights)
        log_increment = log_total - np.log(particles)  # of the evidence: the weights' mean
        weights = np.exp(log_weights - log_total)
        scale = proposal_factor(np.asarray(state.particles), weights)
        tick = time.perf_counter()
        state, acceptance = jax.block_until_ready(
            step_fn(jax.random.fold_in(key_steps, index), state, jnp.asarray(weights, state.loglik.dtype),
                    jnp.asarray(beta, state.loglik.dtype), jnp.asarray(scale, state.particles.dtype)))
        step_times.append(time.perf_counter() - tick)
        saved.update(state._asdict(), step=index + 1, log_evidence=float(saved["log_evidence"]) + log_increment,
                     tempering=np.append(saved["tempering"], beta),
                     invalid=np.append(saved["invalid"], int(invalid.sum())),
                     ess=np.append(saved["ess"], 1.0 / np.sum(weights**2)),
                     acceptance=np.append(saved["acceptance"], float(acceptance)))
        if checkpoint:
            save_checkpoint(checkpoint, tag, saved)
        if progress:
            print(f"SMC step {index + 1}: beta {beta:.4f}, ESS {saved['ess'][-1]:.0f}, acceptance "
                  f"{saved['acceptance'][-1]:.2f}, invalid {saved['invalid'][-1]} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)

    constrained = jax.vmap(density.constrain)(state.particles)
    return Posterior("smc", {n: np.asarray(v)[None] for n, v in constrained.items()},
                     {"loglik": np.asarray(state.loglik)[None]},
                     {"log_evidence": float(saved["log_evidence"]), "n_steps": int(saved["step"]),
                      "tempering": np.asarray(saved["tempering"]), "invalid_per_step": np.asarray(saved["invalid"]),
                      "ess_per_step": np.asarray(saved["ess"]), "acceptance_per_step": np.asarray(saved["acceptance"]),
                      "wall_time_s": time.perf_counter() - started, "step_times_s": np.asarray(step_times)})
