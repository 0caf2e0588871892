"""Incoming connections, conduction delays and the delayed read of a ring buffer.

Connections are stored per target as padded lists (ELLPACK): region ``i`` receives its
``k``-th input from ``source[i, k]`` with weight ``weight[i, k]``; ``K`` is the largest
in-degree and padding entries have weight 0. Zero weights are never read, so sparse
connectomes cost less (tvb76: K = 35 of 76).

Lags are counted in integration steps: ``lag = length / speed / dt``. Every lag is at least
one step, so the input at step ``t + 1`` depends only on states up to ``t``; both stages of
stochastic Heun then read the buffer exactly, and zero-length connections (self-loops) act
with the smallest representable delay, ``dt``.

The ring buffer ``history`` has shape ``(L, N, B)``: ``L = max_lag + 1`` slots of the
coupling variable of ``N`` regions for ``B`` batch entries, the batch as the trailing,
stride-1 axis so that each delayed lookup reads ``B`` contiguous numbers. The value of
step ``s`` lives in slot ``s % L``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

__all__ = ["Delays", "incoming", "buffer_length", "compute_delays", "delayed_sum"]


class Delays(NamedTuple):
    """Incoming connections of every region with their lags in steps.

    Attributes
    ----------
    source : int32 Array, shape (N, K)
        ``source[i, k]`` is the region the ``k``-th input of region ``i`` comes from.
    weight : Array, shape (N, K)
        ``W[i, source[i, k]]``; 0 for padding.
    lag : int32 Array, shape (N, K) or (N, K, B), or None
        Whole-step lag, ``1 <= lag <= max_lag``; a trailing batch axis appears when the
        conduction speed differs between batch entries. None: no conduction delays (every
        connection acts after one step).
    frac : Array of the same shape as ``lag``, or None
        With interpolation, the weight given to ``lag + 1``: the delayed value is
        ``(1 - frac) h(t - lag) + frac h(t - lag - 1)``, differentiable in the speed.
    valid : bool Array, shape () or (B,)
        False where some lag exceeded ``max_lag`` and was clipped (speed below the
        simulator's ``min_speed``).
    """

    source: Array
    weight: Array
    lag: Array | None
    frac: Array | None
    valid: Array


def incoming(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded per-target lists of the non-zero weights.

    Parameters
    ----------
    weights : ndarray, shape (N, N); ``weights[i, j]`` from ``j`` to ``i``.

    Returns
    -------
    source : int32 ndarray, shape (N, K)
    weight : ndarray, shape (N, K); padding has weight 0 and source ``i``.

    Examples
    --------
    >>> incoming(np.array([[0., 2.], [0., 0.]]))
    (array([[1],
           [1]], dtype=int32), array([[2.],
           [0.]]))
    """
    weights = np.asarray(weights, dtype=float)
    n = weights.shape[0]
    lists = [np.flatnonzero(row) for row in weights]
    k = max(1, max(len(s) for s in lists))
    source = np.tile(np.arange(n, dtype=np.int32)[:, None], (1, k))
    weight = np.zeros((n, k))
    for i, s in enumerate(lists):
        source[i, : len(s)] = s
        weight[i, : len(s)] = weights[i, s]
    return source, weight


def buffer_length(lengths_mm: np.ndarray, min_speed: float, dt: float) -> int:
    """Number of ring-buffer slots ``L = max_lag + 1`` for speeds >= ``min_speed`` (mm/ms), ``dt`` in ms."""
    max_steps = float(np.max(lengths_mm)) / min_speed / dt
    return max(2, math.ceil(max_steps) + 2)


def compute_delays(
    weights: np.ndarray,
    lengths_mm: np.ndarray,
    speed: Array | None,
    dt: float,
    max_lag: int,
    *,
    interpolate: bool = False,
    dtype=jnp.float32,
) -> Delays:
    """Incoming connections and their lags from tract lengths and conduction speed.

    Parameters
    ----------
    weights : ndarray, shape (N, N)
        Static (concrete) weights, ``weights[i, j]`` from ``j`` to ``i``.
    lengths_mm : ndarray, shape (N, N)
        Tract lengths in mm.
    speed : Array, shape () or (B,), or None
        Conduction speed in mm/ms (= m/s); may be traced. None: no conduction delays.
    dt : float
        Integration step in ms.
    max_lag : int
        Largest lag the ring buffer can hold (``L - 1``).
    interpolate : bool
        If False, lags are rounded to whole steps (not differentiable in ``speed``). If True,
        the delayed value is interpolated linearly between the two neighbouring steps.

    Returns
    -------
    Delays

    Examples
    --------
    >>> w = np.array([[0., 1.], [1., 0.]])
    >>> d = compute_delays(w, np.array([[0., 10.], [10., 0.]]), jnp.asarray(2.0), 0.5, 20)
    >>> d.source.tolist(), d.lag.tolist()
    ([[1], [0]], [[10], [10]])
    """
    source, weight = incoming(weights)
    weight = jnp.asarray(weight, dtype)
    if speed is None:
        return Delays(jnp.asarray(source), weight, None, None, jnp.asarray(True))
    speed = jnp.asarray(speed, dtype)
    if speed.ndim > 1:
        raise ValueError(f"speed must be a scalar or have shape (B,), got {speed.shape}")
    lengths_in = jnp.asarray(np.take_along_axis(np.asarray(lengths_mm, float), source, axis=1), dtype)
    steps = (lengths_in[..., None] if speed.ndim == 1 else lengths_in) / speed / dt
    steps = jnp.maximum(steps, 1.0)
    if interpolate:
        lag_f = jnp.floor(steps)
        frac = steps - lag_f
        lag = lag_f.astype(jnp.int32)
        top = max_lag - 1
    else:
        lag = jnp.round(steps).astype(jnp.int32)
        frac = None
        top = max_lag
    valid = jnp.all(lag <= top, axis=(0, 1))
    return Delays(jnp.asarray(source), weight, jnp.clip(lag, 1, top), frac, valid)


def _read(history: Array, t_target: Array, source: Array, lag: Array | None) -> Array:
    """``h_{source[i,k]}(t_target - lag[i,k])`` for every connection: shape (N, K, B)."""
    n_slots, n, b = history.shape
    slot = (t_target - (1 if lag is None else lag)) % n_slots
    if lag is None or lag.ndim == 2:  # one lag per connection: gather rows of B contiguous values
        rows = slot * n + source
        return history.reshape(n_slots * n, b)[rows]
    flat = slot * (n * b) + source[..., None] * b + jnp.arange(b, dtype=lag.dtype)
    return history.reshape(-1)[flat]


def delayed_sum(history: Array, t_target: Array, delays: Delays) -> Array:
    """Delayed network input ``sum_j W_ij h_j(t_target - tau_ij)``.

    Parameters
    ----------
    history : Array, shape (L, N, B)
        Ring buffer of the coupling variable; step ``s`` lives in slot ``s % L``.
    t_target : int Array, shape ()
        Step at which the input is wanted; slots back to ``t_target - max_lag`` must be filled.
    delays : Delays

    Returns
    -------
    Array, shape (N, B)
    """
    delayed = _read(history, t_target, delays.source, delays.lag)
    if delays.frac is not None:
        older = _read(history, t_target, delays.source, delays.lag + 1)
        frac = delays.frac if delays.frac.ndim == 3 else delays.frac[..., None]
        delayed = delayed + frac * (older - delayed)
    return jnp.sum(delays.weight[..., None] * delayed, axis=1)  # fuses with the gather; a batched dot does not
