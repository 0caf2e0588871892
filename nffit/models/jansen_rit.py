r"""The Jansen-Rit neural-mass model (Jansen & Rit 1995), with TVB's names and units.

Time in ms, potentials in mV, rates in 1/ms. State order ``y0..y5`` as in TVB's
``JansenRit``::

    S(v)  = 2 e0 / (1 + exp(r (v0 - v)))  =  2 e0 sigmoid(r (v - v0))
    y0' = y3      y3' = A a S(y1 - y2)                  - 2 a y3 - a^2 y0
    y1' = y4      y4' = A a (u + a_2 J S(a_1 J y0))     - 2 a y4 - a^2 y1
    y2' = y5      y5' = B b a_4 J S(a_3 J y0)           - 2 b y5 - b^2 y2

``y0`` is the pyramidal population's PSP, ``y1``/``y2`` the excitatory/inhibitory PSPs on
the pyramidal cells, and ``v = y1 - y2`` the LFP. The input of region ``i`` is

    u_i(t) = mu + G sum_j W_ij S(v_j(t - tau_ij)) + sigma xi_i(t)

with ``xi`` unit white noise (1/sqrt(ms)), so ``sigma`` is in 1/ms * sqrt(ms). The coupling
is the sigmoid of each source's delayed LFP (the same ``S`` as the node uses); TVB's
``SigmoidalJansenRit`` coupling has the same shape with its own constants.

The sigmoid is written with :func:`jax.nn.sigmoid`: the textbook form overflows in float32
when noise drives ``v`` far from ``v0`` and makes every gradient NaN.

References
----------
Jansen BH, Rit VG (1995) Electroencephalogram and visual evoked potential generation in a
mathematical model of coupled cortical columns. Biol Cybern 73:357-366.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from nffit.models.base import Model

__all__ = ["JansenRitState", "JansenRitParams", "sigmoid", "sigmoid_slope", "dfun", "coupling_variable", "observe",
           "diffusion", "equilibrium_lfp", "equilibrium_bracket", "equilibrium_state", "transfer", "JANSEN_RIT"]



class JansenRitState(NamedTuple):
    """The six JR states, each an array of shape (N, B).

    ``y0``, ``y1``, ``y2``: PSPs in mV (pyramidal output, excitatory and inhibitory input to
    the pyramidal cells); ``y3``, ``y4``, ``y5``: their derivatives in mV/ms.
    """

    y0: Array
    y1: Array
    y2: Array
    y3: Array
    y4: Array
    y5: Array


class JansenRitParams(NamedTuple):
    """Jansen-Rit node and network parameters (TVB names and defaults).

    Each field is a scalar, an array of shape (B,) (one value per batch entry) or (N, B).

    Attributes
    ----------
    A : mV, maximum excitatory PSP amplitude (3.25).
    B : mV, maximum inhibitory PSP amplitude (22.0).
    a : 1/ms, excitatory rate constant (0.1).
    b : 1/ms, inhibitory rate constant (0.05).
    v0 : mV, firing threshold (5.52).
    e0 : 1/ms, half the maximum firing rate (0.0025).
    r : 1/mV, sigmoid steepness (0.56).
    J : average number of synapses (135).
    a_1, a_2, a_3, a_4 : connectivity constants (1.0, 0.8, 0.25, 0.25).
    mu : 1/ms, mean extrinsic input (0.22).
    G : global coupling, scales ``sum_j W_ij S(v_j)`` into the input (dimensionless).
    speed : mm/ms (= m/s), conduction speed (3.0).
    sigma : 1/ms * sqrt(ms), standard deviation of the white-noise input.
    """

    A: float | Array = 3.25
    B: float | Array = 22.0
    a: float | Array = 0.1
    b: float | Array = 0.05
    v0: float | Array = 5.52
    e0: float | Array = 0.0025
    r: float | Array = 0.56
    J: float | Array = 135.0
    a_1: float | Array = 1.0
    a_2: float | Array = 0.8
    a_3: float | Array = 0.25
    a_4: float | Array = 0.25
    mu: float | Array = 0.22
    G: float | Array = 1.0
    speed: float | Array = 3.0
    sigma: float | Array = 0.05


def sigmoid(v: Array, p: JansenRitParams) -> Array:
    """Firing rate ``S(v) = 2 e0 sigmoid(r (v - v0))`` in 1/ms for a potential ``v`` in mV."""
    return 2.0 * p.e0 * jax.nn.sigmoid(p.r * (v - p.v0))


def dfun(y: JansenRitState, c: Array, p: JansenRitParams) -> JansenRitState:
    """Drift of the six JR states.

    Parameters
    ----------
    y : JansenRitState
        States y0..y5, each (N, B), in mV and mV/ms.
    c : Array, shape (N, B)
        Network input in 1/ms, added to ``mu``.
    p : JansenRitParams

    Returns
    -------
    JansenRitState of derivatives, in mV/ms and mV/ms^2.

    Examples
    --------
    >>> zero = jnp.zeros((2, 1))
    >>> dy = dfun(JansenRitState(*[zero] * 6), zero, JansenRitParams())
    >>> round(float(dy.y4[0, 0]), 4)  # A a (mu + a_2 J S(0))
    0.0791
    """
    y0, y1, y2, y3, y4, y5 = y
    return JansenRitState(
        y3,
        y4,
        y5,
        p.A * p.a * sigmoid(y1 - y2, p) - 2.0 * p.a * y3 - p.a**2 * y0,
        p.A * p.a * (p.mu + c + p.a_2 * p.J * sigmoid(p.a_1 * p.J * y0, p)) - 2.0 * p.a * y4 - p.a**2 * y1,
        p.B * p.b * p.a_4 * p.J * sigmoid(p.a_3 * p.J * y0, p) - 2.0 * p.b * y5 - p.b**2 * y2,
    )


def coupling_variable(y: JansenRitState, p: JansenRitParams) -> Array:
    """What a region sends to others: ``S(y1 - y2)`` in 1/ms, shape (N, B)."""
    return sigmoid(y.y1 - y.y2, p)


def observe(y: JansenRitState, p: JansenRitParams) -> Array:
    """The LFP ``y1 - y2`` in mV, shape (N, B)."""
    return y.y1 - y.y2


def diffusion(z: Array, p: JansenRitParams) -> JansenRitState:
    """White noise on the input ``u`` enters ``y4'`` as ``A a sigma xi``.

    ``z`` has shape (1, N, B) (standard normals); returns the per-sqrt(ms) increments.
    """
    zero = jnp.zeros_like(z[0])
    return JansenRitState(zero, zero, zero, zero, p.A * p.a * p.sigma * z[0], zero)


def equilibrium_lfp(v: Array, u: Array, p: JansenRitParams) -> Array:
    """The LFP a node settles at for input ``u`` (1/ms) if its own LFP is ``v`` (mV).

    At a fixed point ``y3 = y4 = y5 = 0``, ``y0 = (A/a) S(v)``,
    ``y1 = (A/a)(u + a_2 J S(a_1 J y0))`` and ``y2 = (B/b) a_4 J S(a_3 J y0)``; a fixed point
    solves ``v = y1 - y2``.
    """
    y0 = p.A / p.a * sigmoid(v, p)
    return p.A / p.a * (u + p.a_2 * p.J * sigmoid(p.a_1 * p.J * y0, p)) - p.B / p.b * p.a_4 * p.J * sigmoid(p.a_3 * p.J * y0, p)


def equilibrium_state(v: Array, u: Array, p: JansenRitParams) -> JansenRitState:
    """The six states at the fixed point with LFP ``v`` (mV) and input ``u`` (1/ms, ``mu`` + network).

    Every drift vanishes there except ``y3'``, which vanishes when ``v`` is a fixed point
    (``v = y1 - y2``).

    Examples
    --------
    >>> p = JansenRitParams()
    >>> d = dfun(equilibrium_state(jnp.asarray(5.0), p.mu + 0.1, p), jnp.asarray(0.1), p)
    >>> [round(float(x), 6) + 0.0 for x in (d.y0, d.y4, d.y5)]
    [0.0, 0.0, 0.0]
    """
    y0 = p.A / p.a * sigmoid(v, p)
    y1 = p.A / p.a * (u + p.a_2 * p.J * sigmoid(p.a_1 * p.J * y0, p))
    y2 = p.B / p.b * p.a_4 * p.J * sigmoid(p.a_3 * p.J * y0, p)
    zero = jnp.zeros_like(y0 + y1)
    return JansenRitState(y0 + zero, y1 + zero, y2 + zero, zero, zero, zero)


def equilibrium_bracket(u: Array, p: JansenRitParams) -> tuple[Array, Array]:
    """Bounds (mV) of every fixed-point LFP for input ``u``: the range of ``equilibrium_lfp``.

    ``0 <= S <= 2 e0`` gives ``(A/a) u - (B/b) a_4 J 2 e0 <= v <= (A/a) (u + a_2 J 2 e0)``.
    """
    top = 2.0 * p.e0
    return p.A / p.a * u - p.B / p.b * p.a_4 * p.J * top - 1.0, p.A / p.a * (u + p.a_2 * p.J * top) + 1.0


def sigmoid_slope(v: Array, p: JansenRitParams) -> Array:
    """``S'(v)`` in 1/(ms mV)."""
    s = jax.nn.sigmoid(p.r * (v - p.v0))
    return 2.0 * p.e0 * p.r * s * (1.0 - s)


def transfer(s: Array, v: Array, p: JansenRitParams) -> tuple[Array, Array]:
    r"""Input-to-LFP transfer function of a node linearised at the fixed point with LFP ``v``.

    With the synaptic kernels ``h_e(s) = A a / (s + a)^2`` and ``h_i(s) = B b / (s + b)^2``
    and the sigmoid slopes at the fixed point ``s_0 = S'(v)``, ``s_1 = S'(a_1 J y0)``,
    ``s_3 = S'(a_3 J y0)``:

    .. math::
        H(s) = \frac{h_e}{1 - h_e s_0 (a_1 a_2 J^2 s_1 h_e - a_3 a_4 J^2 s_3 h_i)}

    Returned as ``(numerator, denominator) = (h_e, 1 - ...)``; the denominator tends to 1 and
    its only poles are ``-a`` and ``-b``, so its zeros in the right half plane are the node's
    unstable modes.

    Parameters
    ----------
    s : complex Array, broadcastable against ``v``; Laplace variable in 1/ms (``i omega``).
    v : Array, fixed-point LFP in mV.
    """
    y0 = p.A / p.a * sigmoid(v, p)
    h_e = p.A * p.a / (s + p.a) ** 2
    h_i = p.B * p.b / (s + p.b) ** 2
    s0 = sigmoid_slope(v, p)
    s1 = sigmoid_slope(p.a_1 * p.J * y0, p)
    s3 = sigmoid_slope(p.a_3 * p.J * y0, p)
    loop = h_e * s0 * (p.a_1 * p.a_2 * p.J**2 * s1 * h_e - p.a_3 * p.a_4 * p.J**2 * s3 * h_i)
    return h_e, 1.0 - loop


JANSEN_RIT = Model("jansen_rit", JansenRitState, JansenRitParams, dfun, coupling_variable, observe, 1, diffusion,
                   sigmoid, sigmoid_slope, equilibrium_lfp, equilibrium_bracket, transfer, equilibrium_state,
                   drive=lambda p: p.mu)
"""The Jansen-Rit :class:`~nffit.models.base.Model`."""
