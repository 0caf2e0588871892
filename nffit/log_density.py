"""The log density of a fit, as plain functions of one flat unconstrained vector.

numpyro's model (:func:`nffit.inference.spectrum_model`), blackjax's NUTS, nffit's SMC and the
optax MAP all evaluate the same two pieces defined here: :func:`model_psd` (parameters ->
observed-channel model spectrum and a validity flag) and :func:`pointwise_loglik` (Whittle
Gamma or log-normal per channel and frequency). Invalid parameter sets (unstable, no fixed
point, a simulation that blew up) have log-likelihood -inf: samplers reject them.

Positions are flat vectors ``x`` (D,) of JAX's default float dtype in the unconstrained space: each free parameter ``k``
is ``biject_to(prior_k.support)(x_k)``; the log prior includes the log-Jacobian.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array

from nffit.likelihood import log_normal_loglik, whittle_gamma_loglik
from nffit.observation import observe_spectrum
from nffit.priors import split_values
from nffit.sampling_coordinates import Coordinates, from_sampling, sampling_log_correction

__all__ = ["LogDensity", "make_log_density", "numpyro_log_density", "model_psd", "model_psd_batch", "problem_psd",
           "batched_problem_psd",
           "pointwise_loglik"]


def model_psd_batch(problem, values: dict) -> tuple[Array, Array]:
    """Model spectra at the observed channels and frequencies for a batch of parameter sets.

    Parameters
    ----------
    problem : FitProblem
    values : dict name -> scalar or (B,) array, the free parameters (fixed ones come from the
        problem; scalars are shared by the batch)

    Returns
    -------
    psd : Array (B, C, F), finite everywhere (the observed spectrum stands in where invalid)
    ok : bool Array (B,): the parameter set is valid and its spectrum finite and > 0
    """
    model_params, obs_params = split_values({**problem.fixed, **values}, problem.model)
    out = problem.spectrum(model_params)
    psd = observe_spectrum(out.psd, problem.freqs, obs_params)
    ok = out.valid & jnp.all(jnp.isfinite(psd) & (psd > 0), axis=(1, 2))
    return jnp.where(ok[:, None, None], psd, jnp.asarray(problem.observed, psd.dtype)), ok


def model_psd(problem, values: dict) -> tuple[Array, Array]:
    """:func:`model_psd_batch` of one parameter set (scalars): psd (C, F) and ok ()."""
    psd, ok = model_psd_batch(problem, values)
    return psd[0], ok[0]


def problem_psd(problem, values: dict) -> tuple[Array, Array]:
    """The model spectrum of one position's constrained ``values`` (extra names are ignored):
    psd (C, F) for a FitProblem, (R, C, F) for a :class:`~nffit.hierarchical.GroupProblem`
    (every recording in one batch); ok () is True when all of it is valid."""
    base = getattr(problem, "base", None)  # a GroupProblem's shared FitProblem
    if base is None:
        return model_psd(problem, {n: values[n] for n in problem.priors})
    psd, ok = model_psd_batch(base, {n: values[n] for n in base.priors})
    return psd, jnp.all(ok)


def pointwise_loglik(problem, psd: Array) -> Array:
    """Log-likelihood of each observed ordinate (C, F) given the model ``psd`` (C, F)."""
    observed = jnp.asarray(problem.observed, psd.dtype)
    if problem.likelihood == "whittle":
        return whittle_gamma_loglik(observed, psd, problem.dof)
    return log_normal_loglik(observed, psd, problem.lognormal_sd)


class LogDensity(NamedTuple):
    """A fit's density over flat unconstrained positions ``x`` (D,).

    Attributes
    ----------
    names : tuple of str, the free parameters in the order of ``x``
    logprior : ``x -> ()`` log prior density of ``x`` (Jacobian included)
    loglik : ``x -> ()`` log-likelihood, -inf where invalid
    constrain : ``x -> dict`` name -> constrained value
    unconstrain : ``dict -> x``
    sample_prior : ``key -> x`` one prior draw
    """

    names: tuple[str, ...]
    logprior: Callable[[Array], Array]
    loglik: Callable[[Array], Array]
    constrain: Callable[[Array], dict]
    unconstrain: Callable[[dict], Array]
    sample_prior: Callable[[Array], Array]

    def logdensity(self, x: Array) -> Array:
        """Unnormalised log posterior (-inf where invalid)."""
        return self.logprior(x) + self.loglik(x)

    def sampling_logdensity(self, coords: Coordinates, p: Array) -> Array:
        """The log density in NUTS's sampling coordinates ``p`` (D,) (:mod:`nffit.sampling_coordinates`)."""
        x = from_sampling(self, coords, p)
        return self.logdensity(x) + sampling_log_correction(self, coords, p, x)


_RECENT: dict[str, list] = {"density": [], "psd": []}


def _remembered(kind: str, problem, build: Callable[[], Any]):
    """``build()`` once per problem object (the last few of each kind are kept), so that jitted
    functions built from a problem compile once per problem, not once per call."""
    cache = _RECENT[kind]
    for known, value in cache:
        if known is problem:
            return value
    value = build()
    if isinstance(problem.observed, np.ndarray):  # not while tracing replicated data
        cache[:] = ([(problem, value)] + cache)[:4]
    return value


def make_log_density(problem) -> LogDensity:
    """The :class:`LogDensity` of a :class:`~nffit.inference.FitProblem` (or of a problem with a
    ``log_density()`` method: :class:`~nffit.hierarchical.GroupProblem`).

    The same problem object gives the same functions (the last few are remembered), so that
    jitted samplers taking them as static arguments compile once per problem, not per call.
    """
    build = getattr(problem, "log_density", None)  # a problem defined by a numpyro model (GroupProblem)
    return _remembered("density", problem, build if build is not None else lambda: _build(problem))


def batched_problem_psd(problem) -> Callable[[dict], Array]:
    """:func:`problem_psd` of a batch of positions' values (name -> (B, ...)), jitted once per
    problem: (B, C, F), or (B, R, C, F) for a group."""
    return _remembered("psd", problem, lambda: jax.jit(jax.vmap(lambda values: problem_psd(problem, values)[0])))


def _build(problem) -> LogDensity:
    names = tuple(problem.priors)
    bijectors = [dist.biject_to(problem.priors[n].support) for n in names]

    def constrain(x):
        return {n: b(x[i]) for i, (n, b) in enumerate(zip(names, bijectors))}

    def unconstrain(values):
        dtype = jnp.result_type(float)  # float64 under jax_enable_x64, else float32
        return jnp.stack([jnp.asarray(b.inv(jnp.asarray(values[n], dtype)), dtype) for n, b in zip(names, bijectors)])

    def logprior(x):
        total = 0.0
        for i, (n, b) in enumerate(zip(names, bijectors)):
            y = b(x[i])
            total = total + problem.priors[n].log_prob(y) + b.log_abs_det_jacobian(x[i], y)
        return jnp.asarray(total, x.dtype)  # the position's dtype, also under jax_enable_x64

    def loglik(x):
        psd, ok = model_psd(problem, constrain(x))
        return jnp.where(ok, jnp.sum(pointwise_loglik(problem, psd)), -jnp.inf).astype(x.dtype)

    def sample_prior(key):
        keys = jax.random.split(key, len(names))
        return unconstrain({n: problem.priors[n].sample(k) for n, k in zip(names, keys)})

    return LogDensity(names, logprior, loglik, constrain, unconstrain, sample_prior)


def numpyro_log_density(model: Callable, parameters: Callable, *args) -> LogDensity:
    """The :class:`LogDensity` of a numpyro ``model(*args)`` over the flat unconstrained vector
    of its latent sites, for nffit's own samplers (blackjax NUTS with checkpoints, SMC, MAP).

    ``parameters(*args)`` is the part of ``model`` that samples the latent sites (the same
    site names and priors) and records any ``numpyro.deterministic`` values derived from them
    without evaluating the likelihood: :attr:`LogDensity.constrain` runs it, so that
    constraining thousands of draws computes no spectra. ``names`` are the latent sites in the
    order of ``x`` (sorted); a site with shape (R,) takes R entries of ``x``.
    """
    from jax.flatten_util import ravel_pytree
    from numpyro import handlers
    from numpyro.infer.util import log_density, potential_energy

    def latent_sites(key):
        trace = handlers.trace(handlers.seed(parameters, key)).get_trace(*args)
        return {n: s for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}

    sites = latent_sites(jax.random.key(0))
    bijectors = {n: dist.biject_to(s["fn"].support) for n, s in sites.items()}
    dtype = jnp.result_type(float)
    _, unravel = ravel_pytree({n: jnp.zeros(jnp.shape(s["value"]), dtype) for n, s in sites.items()})

    def unconstrain(values):
        return ravel_pytree({n: jnp.asarray(b.inv(jnp.asarray(values[n], dtype)), dtype) for n, b in bijectors.items()})[0]

    def latent(x):
        u = unravel(x)
        return {n: b(u[n]) for n, b in bijectors.items()}

    def constrain(x):
        values = latent(x)
        trace = handlers.trace(handlers.substitute(handlers.seed(parameters, 0), data=values)).get_trace(*args)
        return {**values, **{n: s["value"] for n, s in trace.items() if s["type"] == "deterministic"}}

    def logprior(x):  # with the log-Jacobian of the transforms
        return jnp.asarray(-potential_energy(parameters, args, {}, unravel(x)), x.dtype)

    def loglik(x):
        _, trace = log_density(model, args, {}, latent(x))
        observed = [s["fn"].log_prob(s["value"]).sum() for s in trace.values() if s["type"] == "sample" and s["is_observed"]]
        return jnp.asarray(sum(observed), x.dtype)

    def sample_prior(key):
        return unconstrain({n: s["value"] for n, s in latent_sites(key).items()})

    return LogDensity(tuple(sorted(bijectors)), logprior, loglik, constrain, unconstrain, sample_prior)
