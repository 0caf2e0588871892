"""Conduction delays and the delayed read of a ring buffer.

Lags are counted in integration steps: ``lag_ij = lengths_ij / speed / dt``. Every lag is
at least one step, so the coupling at step ``t + 1`` depends only on states up to ``t``;
both stages of stochastic Heun then read the buffer exactly, and zero-length connections
(self-loops) act with the smallest representable delay, ``dt``.

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

__all__ = ["Delays", "NO_DELAYS", "buffer_length", "compute_delays", "delayed_sum"]


class Delays(NamedTuple):
    """Per-connection lags in steps.

    Attributes
    ----------
    lag : int32 Array, shape (N, N) or (N, N, B), or None
        Whole-step lag of the connection ``j -> i``; ``1 <= lag <= max_lag``. A trailing
        batch axis appears when the conduction speed differs between batch entries. None
        for a network without conduction delays (every connection acts after one step).
    frac : float Array of the same shape, or None
        With interpolation, the weight given to ``lag + 1``: the delayed value is
        ``(1 - frac) * h(t - lag) + frac * h(t - lag - 1)``, differentiable in the speed.
    valid : bool Array, shape () or (B,)
        False where some lag exceeded ``max_lag`` and was clipped (speed below the
        simulator's ``min_speed``).
    """

    lag: Array
    frac: Array | None
    valid: Array


NO_DELAYS = Delays(None, None, jnp.asarray(True))
"""Every connection acts after one step: ``sum_j W_ij h_j(t - 1)``, computed as a matrix product."""


def buffer_length(lengths_mm: np.ndarray, min_speed: float, dt: float) -> int:
    """Number of ring-buffer slots ``L = max_lag + 1`` for speeds >= ``min_speed`` (mm/ms), ``dt`` in ms."""
    max_steps = float(np.max(lengths_mm)) / min_speed / dt
    return max(2, math.ceil(max_steps) + 2)


def compute_delays(lengths_mm: Array, speed: Array, dt: float, max_lag: int, *, interpolate: bool = False) -> Delays:
    """Lags in steps from tract lengths and conduction speed.

    Parameters
    ----------
    lengths_mm : Array, shape (N, N)
        Tract lengths in mm.
    speed : Array, shape () or (B,)
        Conduction speed in mm/ms (= m/s).
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
    >>> d = compute_delays(jnp.array([[0., 10.], [10., 0.]]), jnp.asarray(2.0), 0.5, 20)
    >>> d.lag.tolist()
    [[1, 10], [10, 1]]
    """
    speed = jnp.asarray(speed)
    if speed.ndim > 1:
        raise ValueError(f"speed must be a scalar or have shape (B,), got {speed.shape}")
    steps = lengths_mm[..., None] / speed / dt if speed.ndim == 1 else lengths_mm / speed / dt
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
    return Delays(jnp.clip(lag, 1, top), frac, valid)


def _read(history: Array, t_target: Array, lag: Array) -> Array:
    """``h_j(t_target - lag_ij)`` for every connection: shape (N, N, B)."""
    n_slots, n, b = history.shape
    slot = (t_target - lag) % n_slots
    if lag.ndim == 2:  # one lag per connection: gather rows of B contiguous values
        rows = slot * n + jnp.arange(n, dtype=lag.dtype)[None, :]
        return history.reshape(n_slots * n, b)[rows]
    flat = slot * (n * b) + jnp.arange(n, dtype=lag.dtype)[None, :, None] * b + jnp.arange(b, dtype=lag.dtype)
    return history.reshape(-1)[flat]


def delayed_sum(history: Array, t_target: Array, delays: Delays, weights: Array) -> Array:
    """Delayed network input ``sum_j W_ij h_j(t_target - tau_ij)``.

    Parameters
    ----------
    history : Array, shape (L, N, B)
        Ring buffer of the coupling variable; step ``s`` lives in slot ``s % L``.
    t_target : int Array, shape ()
        Step at which the input is wanted; slots back to ``t_target - max_lag`` must be filled.
    delays : Delays
    weights : Array, shape (N, N)
        ``weights[i, j]`` from ``j`` to ``i``.

    Returns
    -------
    Array, shape (N, B)
    """
    if delays.lag is None:  # no conduction delays: a dense product with the newest slot
        return weights @ history[(t_target - 1) % history.shape[0]]
    delayed = _read(history, t_target, delays.lag)
    if delays.frac is not None:
        older = _read(history, t_target, delays.lag + 1)
        frac = delays.frac if delays.frac.ndim == 3 else delays.frac[..., None]
        delayed = delayed + frac * (older - delayed)
    return jnp.einsum("ij,ijb->ib", weights, delayed)
