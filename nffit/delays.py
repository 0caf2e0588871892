"""Incoming connections, conduction delays and the delayed read of a ring buffer.

Two layouts of the incoming connections, chosen by :func:`choose_layout`:

- ``"gather"``: per-target padded lists (ELLPACK): region ``i`` receives its ``k``-th input
  from ``source[i, k]`` with weight ``weight[i, k]``; ``K`` is the largest in-degree and
  padding entries have weight 0. Zero weights are never read, so sparse connectomes cost
  less (tvb76: K = 35 of 76).
- ``"dense"``: every ``(i, j)`` pair (``source`` is None, ``weight`` is ``W`` itself). Without
  conduction delays the input is one matrix product ``W h(t - 1)``, faster than the gather
  list from a few per cent density on (:data:`DENSE_ABOVE`, measured by
  ``benchmarks/sparse.py``, docs/benchmarks.md); with delays every pair is read, which never
  paid, so "auto" keeps the gather list there.

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

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

__all__ = ["Delays", "incoming", "choose_layout", "DENSE_ABOVE", "buffer_length", "compute_delays", "delayed_sum"]

DENSE_ABOVE: dict[str, float] = {"cpu": 0.05, "gpu": 0.02}
"""Density of non-zero weights (fraction of ``N * N``) from which a network *without*
conduction delays uses the dense layout (one matrix product per step), per JAX backend.
Measured with ``benchmarks/sparse.py`` (N = 1000, docs/benchmarks.md): the gather list is
faster up to 2 % on the 2-core CPU (B = 32) and up to 1 % on an H100 (B = 256). With delays
the gather list is always used: reading every pair was never faster (at 100 % density the
two read the same pairs and tie)."""


class Delays(NamedTuple):
    """Incoming connections of every region with their lags in steps.

    Attributes
    ----------
    source : int32 Array, shape (N, K), or None
        ``source[i, k]`` is the region the ``k``-th input of region ``i`` comes from. None:
        the dense layout, ``K = N`` and ``source[i, k] = k``.
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
        False where the lag of some non-zero weight exceeded ``max_lag`` and was clipped (speed below the
        simulator's ``min_speed``).
    """

    source: Array | None
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


def choose_layout(weights: np.ndarray, delayed: bool = True) -> str:
    """``"gather"`` with delays; without, ``"dense"`` from the density :data:`DENSE_ABOVE` gives for this backend.

    Examples
    --------
    >>> choose_layout(np.ones((4, 4)), delayed=False), choose_layout(np.eye(40), delayed=False)
    ('dense', 'gather')
    >>> choose_layout(np.ones((4, 4)), delayed=True)
    'gather'
    """
    if delayed:
        return "gather"
    weights = np.asarray(weights)
    threshold = DENSE_ABOVE.get(jax.default_backend(), DENSE_ABOVE["gpu"])
    return "dense" if np.count_nonzero(weights) / weights.size >= threshold else "gather"


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
    layout: str = "auto",
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
    layout : {"auto", "gather", "dense"}
        How connections are stored (module docstring); "auto" applies :func:`choose_layout`.

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
    if layout == "auto":
        layout = choose_layout(weights, delayed=speed is not None)
    if layout == "dense":
        source, weight = None, np.asarray(weights, float)
        lengths_in = np.asarray(lengths_mm, float)
    elif layout == "gather":
        source, weight = incoming(weights)
        lengths_in = np.take_along_axis(np.asarray(lengths_mm, float), source, axis=1)
        source = jnp.asarray(source)
    else:
        raise ValueError(f"layout must be 'auto', 'gather' or 'dense', got {layout!r}")
    weight = jnp.asarray(weight, dtype)
    if speed is None:
        return Delays(source, weight, None, None, jnp.asarray(True))
    speed = jnp.asarray(speed, dtype)
    if speed.ndim > 1:
        raise ValueError(f"speed must be a scalar or have shape (B,), got {speed.shape}")
    lengths_in = jnp.asarray(lengths_in, dtype)
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
    unused = (weight == 0) if lag.ndim == 2 else (weight == 0)[..., None]  # padding, or absent pairs of dense
    valid = jnp.all((lag <= top) | unused, axis=(0, 1))
    return Delays(source, weight, jnp.clip(lag, 1, top), frac, valid)


def _read(history: Array, t_target: Array, source: Array | None, lag: Array) -> Array:
    """``h_{source[i,k]}(t_target - lag[i,k])`` for every connection: shape (N, K, B)."""
    n_slots, n, b = history.shape
    slot = (t_target - lag) % n_slots
    if source is None:  # dense: K = N, source[i, k] = k
        source = jnp.arange(n, dtype=lag.dtype)[None, :]
    if lag.ndim == 2:  # one lag per connection: gather rows of B contiguous values
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
    if delays.lag is None:  # no conduction delays: every input is one step old
        previous = lax.dynamic_index_in_dim(history, (t_target - 1) % history.shape[0], 0, keepdims=False)  # (N, B)
        if delays.source is None:
            return delays.weight @ previous
        return jnp.sum(delays.weight[..., None] * previous[delays.source], axis=1)
    delayed = _read(history, t_target, delays.source, delays.lag)
    if delays.frac is not None:
        older = _read(history, t_target, delays.source, delays.lag + 1)
        frac = delays.frac if delays.frac.ndim == 3 else delays.frac[..., None]
        delayed = delayed + frac * (older - delayed)
    return jnp.sum(delays.weight[..., None] * delayed, axis=1)  # fuses with the gather; a batched dot does not
