"""NUTS's sampling coordinates: a bounded parameter reflected at its lower bound, the others
sheared along it, so that a ridge against the bound becomes a near-Gaussian blob.

Why: on the shipped EEG the coupling G (prior Uniform(0, 4)) has posterior mass down to its
bound 0, and trades off linearly against mu (r = -0.94) *in the constrained space*. In the
unconstrained space (``z = logit(G / 4)``) G -> 0 stretches out to z -> -inf: the straight
ridge becomes a banana, flat in mu for z < -4 and bending where G is of order 1, with a long
exponential tail on one side and a steep wall on the other. A dense mass matrix cannot follow
a curve or fit two length scales, so NUTS took long trajectories there, and R-hat of G was
the slowest to settle.

What: for each *source* parameter ``k`` (default G) with bounds ``l < u`` the sampler's
coordinate ``p_k`` is the constrained value reflected at the lower bound, and squashed below
the upper one (``w = u - l``; without an upper bound ``theta = l + |p - l|``):

    theta_k = l + w tanh(|p_k - l| / w)

a density over the whole line, symmetric about ``l`` (where a posterior that reaches the bound
with a finite density is continuous), linear near ``l`` and with the logit's exponential tail
towards ``u``. Every other coordinate is sheared along the sources:

    x_j = p_j + sum_k S[j, k] theta_k        (x: nffit's unconstrained position)

The shear has unit Jacobian; the reflection is two-to-one, so the log density in ``p`` is
``log pi(x) - log |d theta_k / d x_k| + log |d theta_k / d p_k|`` (plus the constant log 2).
``S`` is the slope of each coordinate on the sources' constrained values in the Laplace
approximation at the MAP: after the shear, the ridge no longer depends on G.

All functions are pure, over a :class:`Coordinates` pytree of arrays (traced: one compilation
per problem, whatever the slopes).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["Coordinates", "identity_coordinates", "laplace_coordinates", "to_sampling", "from_sampling",
           "sampling_log_correction", "sampling_covariance"]


class Coordinates(NamedTuple):
    """Sampling coordinates of a density with D scalar parameters.

    Attributes
    ----------
    shear : (D, D) array, ``S[j, k]`` non-zero only from a source ``k`` to a non-source ``j``
    source : (D,) bool array, the reflected parameters
    lower : (D,) array, each source's lower bound (constrained units)
    width : (D,) array, each source's ``u - l`` (inf without an upper bound)
    """

    shear: Array
    source: Array
    lower: Array
    width: Array


def identity_coordinates(dim: int, dtype=jnp.float32) -> Coordinates:
    """``p = x``: no source, no shear."""
    return Coordinates(jnp.zeros((dim, dim), dtype), jnp.zeros(dim, bool), jnp.zeros(dim, dtype),
                       jnp.full(dim, jnp.inf, dtype))


def _widths(coords: Coordinates) -> tuple[Array, Array]:
    """(D,) bool: the source has an upper bound; (D,) its width there (1 elsewhere)."""
    bounded = jnp.isfinite(coords.width)
    return bounded, jnp.where(bounded, coords.width, 1.0)


def _squash(coords: Coordinates, p: Array) -> tuple[Array, Array]:
    """``theta`` of the sources (0 elsewhere) and ``log |d theta / d p|`` (0 elsewhere)."""
    bounded, w = _widths(coords)
    r = jnp.abs(p - coords.lower)
    theta = coords.lower + jnp.where(bounded, w * jnp.tanh(r / w), r)
    log_slope = jnp.where(bounded, -2.0 * (jnp.logaddexp(r / w, -r / w) - jnp.log(2.0)), 0.0)  # log sech^2
    return jnp.where(coords.source, theta, 0.0), jnp.where(coords.source, log_slope, 0.0)


def _constrained(density, x: Array) -> Array:
    """Every parameter's constrained value, (D,) in the order of ``density.names``."""
    values = density.constrain(x)
    return jnp.stack([jnp.asarray(values[n], x.dtype) for n in density.names])


def _constrain_slopes(density, x: Array) -> Array:
    """(D,) ``d theta_k / d x_k`` (the bijectors act on one entry each: one forward pass)."""
    return jax.jvp(lambda y: _constrained(density, y), (x,), (jnp.ones_like(x),))[1]


def from_sampling(density, coords: Coordinates, p: Array) -> Array:
    """Sampling coordinates ``p`` (D,) -> unconstrained position ``x`` (D,)."""
    theta, _ = _squash(coords, p)
    x = p + coords.shear @ theta
    # a source's unconstrained value is its bijector's inverse at theta; the other entries are
    # unused, filled with their own constrained values so that none is outside its support
    # (an inverse at 0 such as log 0 would put inf * 0 = NaN into the gradient)
    values = jnp.where(coords.source, theta, _constrained(density, x))
    x_source = density.unconstrain({n: values[i] for i, n in enumerate(density.names)})
    return jnp.where(coords.source, x_source, x)


def to_sampling(density, coords: Coordinates, x: Array) -> Array:
    """Unconstrained position ``x`` (D,) -> sampling coordinates ``p`` (D,) (the sources'
    branch above their lower bounds)."""
    theta = jnp.where(coords.source, _constrained(density, x), 0.0)
    bounded, w = _widths(coords)
    r = theta - coords.lower
    p_source = coords.lower + jnp.where(bounded, w * jnp.arctanh(jnp.clip(r / w, -1.0, 1.0)), r)
    return jnp.where(coords.source, p_source, x - coords.shear @ theta)


def sampling_log_correction(density, coords: Coordinates, p: Array, x: Array) -> Array:
    """``sum_k log |d theta_k / d p_k| - log |d theta_k / d x_k|`` over the sources, for ``x``
    the image of ``p``; -inf where that is not finite (a source at a bound)."""
    log_dx = jnp.where(coords.source, jnp.log(jnp.abs(_constrain_slopes(density, x))), 0.0)
    _, log_dp = _squash(coords, p)
    total = jnp.sum(log_dp - log_dx)
    ok = jnp.isfinite(total) & jnp.all(jnp.where(coords.source, jnp.isfinite(x), True))
    return jnp.where(ok, total, -jnp.inf)


def laplace_coordinates(density, mode: np.ndarray, covariance: np.ndarray, sources: Sequence[str],
                        bounds: dict[str, tuple[float, float]]) -> Coordinates:
    """Coordinates reflecting ``sources`` at their lower bounds and shearing the others along
    them by their regression slopes in the Laplace approximation (``mode`` (D,), ``covariance``
    (D, D), unconstrained): ``S[t, s] = C[t, s] C[s, s]^{-1} diag(1 / theta_s'(mode_s))``, the
    dependence of each coordinate on the sources' constrained values, linearised at the mode.

    ``bounds`` name -> (lower, upper) of the constrained support; names in ``sources`` that are
    not free, or have no finite lower bound, are skipped.
    """
    names = list(density.names)
    dim = len(names)
    mode, covariance = np.asarray(mode, float), np.asarray(covariance, float)
    src = [names.index(n) for n in sources if n in names and np.isfinite(bounds.get(n, (-np.inf,))[0])]
    rest = [i for i in range(dim) if i not in src]
    shear, is_source, lower, width = np.zeros((dim, dim)), np.zeros(dim, bool), np.zeros(dim), np.full(dim, np.inf)
    if src:
        slope = np.asarray(_constrain_slopes(density, jnp.asarray(mode, jnp.result_type(float))), float)[src]
        if not np.all(np.isfinite(slope) & (np.abs(slope) > 0)):
            return identity_coordinates(dim)
        shear[np.ix_(rest, src)] = covariance[np.ix_(rest, src)] @ np.linalg.inv(covariance[np.ix_(src, src)]) / slope
        is_source[src] = True
        lower[src] = [bounds[names[i]][0] for i in src]
        width[src] = [bounds[names[i]][1] - bounds[names[i]][0] for i in src]
    dtype = jnp.result_type(float)
    return Coordinates(jnp.asarray(shear, dtype), jnp.asarray(is_source), jnp.asarray(lower, dtype), jnp.asarray(width, dtype))


def sampling_covariance(density, coords: Coordinates, mode: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """The Laplace covariance (D, D) carried into sampling coordinates: ``J C J^T`` with
    ``J = dp/dx`` at the mode."""
    x = jnp.asarray(mode, coords.shear.dtype)
    jac = np.asarray(jax.jacfwd(lambda y: to_sampling(density, coords, y))(x), float)
    return jac @ np.asarray(covariance, float) @ jac.T
