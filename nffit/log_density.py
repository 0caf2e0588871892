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

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax import Array

from nffit.likelihood import log_normal_loglik, whittle_gamma_loglik
from nffit.observation import observe_spectrum
from nffit.priors import split_values

__all__ = ["LogDensity", "make_log_density", "model_psd", "pointwise_loglik"]


def model_psd(problem, values: dict) -> tuple[Array, Array]:
    """Model spectrum at the observed channels and frequencies.

    Parameters
    ----------
    problem : FitProblem
    values : dict name -> scalar, the free parameters (fixed ones come from the problem)

    Returns
    -------
    psd : Array (C, F), finite everywhere (a stand-in where invalid)
    ok : bool Array (): the parameter set is valid and the spectrum finite and > 0
    """
    model_params, obs_params = split_values({**problem.fixed, **values}, problem.model)
    out = problem.spectrum(model_params)
    psd = observe_spectrum(out.psd, problem.freqs, obs_params)[0]
    ok = out.valid[0] & jnp.all(jnp.isfinite(psd) & (psd > 0))
    return jnp.where(ok, psd, jnp.asarray(problem.observed, psd.dtype)), ok


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


_RECENT: list[tuple[object, LogDensity]] = []


def make_log_density(problem) -> LogDensity:
    """The :class:`LogDensity` of a :class:`~nffit.inference.FitProblem`.

    The same problem object gives the same functions (the last few are remembered), so that
    jitted samplers taking them as static arguments compile once per problem, not per call.
    """
    for known, density in _RECENT:
        if known is problem:
            return density
    density = _build(problem)
    if isinstance(problem.observed, np.ndarray):  # not while tracing replicated data
        _RECENT[:] = ([(problem, density)] + _RECENT)[:4]
    return density


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
