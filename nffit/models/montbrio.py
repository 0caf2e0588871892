r"""The Montbrio-Pazo-Roxin mean-field model (Montbrio, Pazo & Roxin 2015), TVB's names.

Firing rate ``r`` (1/ms) and mean membrane potential ``V`` (dimensionless, as in the paper)
of an infinite population of quadratic integrate-and-fire neurons with Lorentzian
excitabilities (centre ``eta``, half-width ``Delta``)::

    r' = Delta / (pi tau^2) + 2 r V / tau
    V' = (V^2 + eta + I - (pi tau r)^2) / tau + J r + c + sigma xi

``c_i = G sum_j W_ij r_j(t - tau_ij)`` is the network input (1/ms), coupled through the
delayed firing rate like TVB's ``MontbrioPazoRoxin`` with ``cr = 1``, ``cv = 0``; it enters
``V'`` as the recurrent term ``J r`` does, so ``G`` is dimensionless like ``J``. The white
noise ``xi`` (1/sqrt(ms)) enters with the input, as in Jansen-Rit, which is what the
analytic spectrum assumes. The LFP is ``V``.

Time constant: the paper's simulations use ``tau = 10`` ms (the membrane time constant),
which is the default here; TVB's default ``tau = 1`` is the non-dimensional form and puts
the dynamics at ten times higher frequencies.

Default step 0.1 ms (``max_dt_ms``; the step the tests check): at Jansen-Rit's 1 ms the
76-region network at the defaults blows up from rest.

At a fixed point ``r = -Delta / (2 pi tau V)`` (so ``V < 0``), which makes the rate a
function of the LFP there, and ``V`` solves
``V^2 + eta + I + tau (J r + c) - (pi tau r)^2 = 0``.

References
----------
Montbrio E, Pazo D, Roxin A (2015) Macroscopic description for networks of spiking neurons.
Phys Rev X 5:021028.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

from nffit.models.base import Model

__all__ = ["MontbrioState", "MontbrioParams", "dfun", "coupling_variable", "observe", "diffusion", "rate_of_lfp",
           "rate_slope", "equilibrium_lfp", "equilibrium_bracket", "equilibrium_state", "transfer",
           "coupling_transfer", "MONTBRIO"]


class MontbrioState(NamedTuple):
    """``r`` (1/ms) and ``V`` (dimensionless), each (N, B)."""

    r: Array
    V: Array


class MontbrioParams(NamedTuple):
    """MPR node and network parameters (TVB names; ``tau`` from the paper).

    Each field is a scalar, an array of shape (B,) or (N, B).

    Attributes
    ----------
    tau : ms, membrane time constant (10.0).
    Delta : half-width of the excitability distribution (1.0).
    eta : centre of the excitability distribution (-5.0).
    J : recurrent synaptic weight (15.0).
    I : external current (0.0).
    G : global coupling, scales ``sum_j W_ij r_j`` like ``J`` scales ``r`` (dimensionless).
    speed : mm/ms (= m/s), conduction speed (3.0).
    sigma : 1/sqrt(ms), standard deviation of the white-noise input to ``V'``.
    """

    tau: float | Array = 10.0
    Delta: float | Array = 1.0
    eta: float | Array = -5.0
    J: float | Array = 15.0
    I: float | Array = 0.0  # noqa: E741 - TVB's name
    G: float | Array = 1.0
    speed: float | Array = 3.0
    sigma: float | Array = 0.01


def dfun(y: MontbrioState, c: Array, p: MontbrioParams) -> MontbrioState:
    """Drift of ``(r, V)``; ``c`` (N, B) is the network input in 1/ms.

    Examples
    --------
    >>> y = MontbrioState(jnp.full((1, 1), 0.01), jnp.full((1, 1), -1.0))
    >>> d = dfun(y, jnp.zeros((1, 1)), MontbrioParams())
    >>> round(float(d.r[0, 0]), 6), round(float(d.V[0, 0]), 4)
    (0.001183, -0.2599)
    """
    r, v = y
    return MontbrioState(
        p.Delta / (jnp.pi * p.tau**2) + 2.0 * r * v / p.tau,
        (v**2 + p.eta + p.I - (jnp.pi * p.tau * r) ** 2) / p.tau + p.J * r + c,
    )


def coupling_variable(y: MontbrioState, p: MontbrioParams) -> Array:
    """The firing rate ``r`` (1/ms): what a region sends to others."""
    return y.r


def observe(y: MontbrioState, p: MontbrioParams) -> Array:
    """The LFP: the mean membrane potential ``V``."""
    return y.V


def diffusion(z: Array, p: MontbrioParams) -> MontbrioState:
    """White noise on the input enters ``V'`` as ``sigma xi``; ``z`` (1, N, B)."""
    return MontbrioState(jnp.zeros_like(z[0]), p.sigma * z[0])


def rate_of_lfp(v: Array, p: MontbrioParams) -> Array:
    """The rate at a fixed point with potential ``v < 0``: ``r = -Delta / (2 pi tau v)``."""
    return -p.Delta / (2.0 * jnp.pi * p.tau * v)


def rate_slope(v: Array, p: MontbrioParams) -> Array:
    """``d r / d v`` along the fixed points."""
    return p.Delta / (2.0 * jnp.pi * p.tau * v**2)


def equilibrium_lfp(v: Array, u: Array, p: MontbrioParams) -> Array:
    """A map whose fixed points in ``v`` are the node's fixed-point potentials for input ``u`` (1/ms).

    ``v + tau V'(r(v), v) / (2 |v| + 1)`` with the rate on its nullcline ``r = r(v)``: equal
    to ``v`` exactly where the ``V`` drift vanishes; the scale keeps the map tame.
    """
    r = rate_of_lfp(v, p)
    drift = v**2 + p.eta + p.I - (jnp.pi * p.tau * r) ** 2 + p.tau * (p.J * r + u)
    return v + drift / (2.0 * jnp.abs(v) + 1.0)


def equilibrium_bracket(u: Array, p: MontbrioParams) -> tuple[Array, Array]:
    """Bounds of every fixed-point ``V`` for input ``u >= 0``.

    With ``b = |eta + I| + tau |u| + Delta^2 / 4 + 1``: for ``V <= -L``, ``L = sqrt(b) + 1``, the
    ``V`` drift is positive (``V^2`` dominates); for ``-Delta / (2 K) <= V < 0`` with
    ``K = |J| / pi + b + L^2`` it is negative (``-(pi tau r)^2 = -Delta^2 / (4 V^2)`` dominates).
    """
    big = jnp.abs(p.eta + p.I) + p.tau * jnp.abs(u) + p.Delta**2 / 4.0 + 1.0
    low = -jnp.sqrt(big) - 1.0
    high = -p.Delta / (2.0 * (jnp.abs(p.J) / jnp.pi + big + low**2))
    return low, high


def equilibrium_state(v: Array, u: Array, p: MontbrioParams) -> MontbrioState:
    """``(r, V)`` at the fixed point with potential ``v`` (``u`` enters only through ``v``)."""
    return MontbrioState(rate_of_lfp(v, p) + 0.0 * u, v + 0.0 * u)


def _characteristic(s: Array, v: Array, p: MontbrioParams) -> tuple[Array, Array]:
    r = rate_of_lfp(v, p)
    pole = s - 2.0 * v / p.tau  # s - dr'/dr = s - dV'/dV
    scale = (s + 1.0 / p.tau) ** 2  # makes the denominator tend to 1; poles in the left half plane
    # dr'/dV = 2 r / tau, dV'/dr = J - 2 pi^2 tau r
    return pole, (pole**2 - (2.0 * r / p.tau) * (p.J - 2.0 * jnp.pi**2 * p.tau * r)) / scale


def transfer(s: Array, v: Array, p: MontbrioParams) -> tuple[Array, Array]:
    r"""Input-to-LFP transfer ``H_V(s) = (s - 2V/tau) / det(sI - Jac)``, as (numerator, denominator).

    Both are divided by ``(s + 1/tau)^2`` so that the denominator tends to 1 with its only
    poles at ``-1/tau``: its right-half-plane zeros are the node's unstable modes.
    """
    pole, den = _characteristic(s, v, p)
    return pole / (s + 1.0 / p.tau) ** 2, den


def coupling_transfer(s: Array, v: Array, p: MontbrioParams) -> Array:
    """Numerator of the input-to-rate transfer ``H_r(s) = (2 r / tau) / det(sI - Jac)`` (same denominator)."""
    r = rate_of_lfp(v, p)
    return (2.0 * r / p.tau) / (s + 1.0 / p.tau) ** 2 + 0.0 * s


MONTBRIO = Model("montbrio", MontbrioState, MontbrioParams, dfun, coupling_variable, observe, 1, diffusion,
                 rate_of_lfp, rate_slope, equilibrium_lfp, equilibrium_bracket, transfer, equilibrium_state,
                 coupling_transfer=coupling_transfer, drive=lambda p: 0.0, max_dt_ms=0.1)
"""The Montbrio-Pazo-Roxin :class:`~nffit.models.base.Model`."""
