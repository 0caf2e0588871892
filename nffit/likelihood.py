r"""Likelihoods of an observed Welch spectrum given a model spectrum.

Whittle-type (default): a Welch ordinate with ``nu`` equivalent degrees of freedom is
approximately ``P_hat ~ S chi2_nu / nu``, i.e. Gamma(shape ``nu/2``, rate ``nu / (2 S)``):

.. math::
    \log p(\hat P \mid S) = \frac{\nu}{2}\log\frac{\nu}{2S} + \left(\frac{\nu}{2}-1\right)\log\hat P
        - \frac{\nu \hat P}{2S} - \log\Gamma\!\left(\frac{\nu}{2}\right)

Gaussian on log10 power (option): ``log10 P_hat ~ Normal(log10 S, sd)``.

Adjacent bins of a tapered estimate are correlated (Hann spreads over about two bins);
treating every bin as independent makes posteriors too narrow, so fits use every other bin
by default (``bin_stride=2``).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import gammaln

__all__ = ["whittle_gamma_loglik", "log_normal_loglik", "LIKELIHOODS"]


def whittle_gamma_loglik(observed: Array, model: Array, dof: float | Array) -> Array:
    """Pointwise Gamma log-likelihood of Welch ordinates.

    Parameters
    ----------
    observed : Array, shape (..., C, F), > 0 (e.g. uV^2/Hz)
    model : Array, broadcastable to ``observed``, > 0, same units
    dof : float or Array, equivalent degrees of freedom ``nu`` of each ordinate

    Returns
    -------
    Array of the broadcast shape: log density of each ordinate.

    Examples
    --------
    >>> import scipy.stats
    >>> float(whittle_gamma_loglik(jnp.asarray(2.0), jnp.asarray(1.5), 10.0))  # doctest: +ELLIPSIS
    -1.0522...
    >>> float(scipy.stats.gamma(a=5.0, scale=1.5 / 5.0).logpdf(2.0))  # doctest: +ELLIPSIS
    -1.0522...
    """
    half = 0.5 * dof
    return half * jnp.log(half / model) + (half - 1.0) * jnp.log(observed) - half * observed / model - gammaln(half)


def log_normal_loglik(observed: Array, model: Array, sd: float | Array) -> Array:
    """Pointwise ``Normal(log10 model, sd)`` log density of ``log10 observed`` (sd in decades)."""
    z = (jnp.log10(observed) - jnp.log10(model)) / sd
    return -0.5 * z**2 - jnp.log(sd) - 0.5 * jnp.log(2.0 * jnp.pi)


LIKELIHOODS = ("whittle", "lognormal")
