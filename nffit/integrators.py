r"""One-step schemes for SDEs with additive noise, ``dy = f(y, c(t)) dt + g dW``.

States are pytrees (a model's state ``NamedTuple`` of arrays, or one array).

Each scheme is a pure function ``scheme(drift, y, c_now, c_next, dw, dt) -> y_next`` where
``drift(y, c)`` is the model's drift with its parameters bound, ``c_now``/``c_next`` the
(delayed) network input at ``t`` and ``t + dt``, and ``dw = g * sqrt(dt) * z`` the noise
increment of the step, already scaled.

- ``euler``: Euler-Maruyama, ``y + dt f(y, c_now) + dw``. Deterministic order 1.
- ``heun``: stochastic Heun (predictor-corrector with the same ``dw`` in both stages),
  ``y + dt/2 (f(y, c_now) + f(y_pred, c_next)) + dw``. Deterministic order 2; for additive
  noise its weak order is 2 as well (Kloeden & Platen 1992, sec. 15.1).
- ``rk4``: classical Runge-Kutta on ``y' = f(y, c(t)) + dw / dt``, the noise increment held
  constant over the step (a piecewise-constant forcing, strong order 1 like the others) and
  the input at the midpoint interpolated linearly between ``c_now`` and ``c_next`` (the ring
  buffer holds whole steps only). Deterministic order 4 for the node's own dynamics, 2 in a
  time-varying input. Four drift evaluations per step (Heun two, Euler one).

Which scheme and ``dt`` to use is measured in ``benchmarks/accuracy.py`` (docs/benchmarks.md):
:data:`MAX_DT_MS` holds the table's choice and :func:`default_dt` applies it.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
from jax import Array

from nffit.errors import NffitError

__all__ = ["euler", "heun", "rk4", "SCHEMES", "get_scheme", "MAX_DT_MS", "default_dt"]

Drift = Callable[[Array, Array], Array]


def euler(drift: Drift, y, c_now: Array, c_next: Array, dw, dt: float):
    """Euler-Maruyama step. ``y``, ``dw``: state pytrees; ``c_now``, ``c_next``: the input at t, t + dt."""
    return jax.tree.map(lambda y_, f_, w_: y_ + dt * f_ + w_, y, drift(y, c_now), dw)


def heun(drift: Drift, y, c_now: Array, c_next: Array, dw, dt: float):
    """Stochastic Heun step for additive noise (same arguments as :func:`euler`)."""
    f_now = drift(y, c_now)
    y_pred = jax.tree.map(lambda y_, f_, w_: y_ + dt * f_ + w_, y, f_now, dw)
    f_pred = drift(y_pred, c_next)
    return jax.tree.map(lambda y_, f0, f1, w_: y_ + 0.5 * dt * (f0 + f1) + w_, y, f_now, f_pred, dw)


def rk4(drift: Drift, y, c_now: Array, c_next: Array, dw, dt: float):
    """Runge-Kutta 4 step with the noise as a constant forcing over the step (same arguments as :func:`euler`)."""
    c_mid = 0.5 * (c_now + c_next)

    def shifted(k, h):  # y + h k
        return jax.tree.map(lambda y_, k_: y_ + h * k_, y, k)

    def f(state, c):  # drift plus the step's noise forcing dw / dt
        return jax.tree.map(lambda f_, w_: f_ + w_ / dt, drift(state, c), dw)

    k1 = f(y, c_now)
    k2 = f(shifted(k1, 0.5 * dt), c_mid)
    k3 = f(shifted(k2, 0.5 * dt), c_mid)
    k4 = f(shifted(k3, dt), c_next)
    return jax.tree.map(lambda y_, a, b, c, d: y_ + dt / 6.0 * (a + 2.0 * b + 2.0 * c + d), y, k1, k2, k3, k4)


SCHEMES: dict[str, Callable[..., Array]] = {"euler": euler, "heun": heun, "rk4": rk4}


def get_scheme(name: str) -> Callable[..., Array]:
    """The scheme called ``name`` (``"euler"``, ``"heun"`` or ``"rk4"``)."""
    if name not in SCHEMES:
        raise NffitError(f"unknown integration method {name!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[name]


MAX_DT_MS: dict[str, float] = {"euler": 0.2, "heun": 1.0, "rk4": 1.0}
"""Largest step (ms) per scheme whose Jansen-Rit log-PSD error stays within 0.02 decades RMS
over 1-45 Hz against a 0.01 ms reference (``benchmarks/accuracy.py``, docs/benchmarks.md):
Heun 2 ms at the stable focus but 1 ms on the limit cycle, so 1 ms; RK4 the same (its 1 ms
row on the limit cycle sits on the 0.015-0.023 sampling floor, so no larger step is claimed);
Euler 0.2 ms at the focus (it meets 0.02 on the limit cycle at no step tried)."""


def default_dt(fs: float, method: str = "heun", max_dt: float | None = None) -> float:
    """The largest step (ms) up to ``MAX_DT_MS[method]`` that divides the output period ``1000 / fs``.

    The simulator averages ``1000 / (fs dt)`` steps into one output sample, so that number
    must be whole.

    Parameters
    ----------
    fs : float, Hz, output sampling rate
    method : {"heun", "euler", "rk4"}
    max_dt : float, ms, optional; a lower cap (a model's own ``max_dt_ms``)

    Examples
    --------
    >>> default_dt(250.0), default_dt(1250.0), default_dt(250.0, "euler")
    (1.0, 0.8, 0.2)
    """
    get_scheme(method)
    cap = MAX_DT_MS[method] if max_dt is None else min(max_dt, MAX_DT_MS[method])
    period = 1000.0 / fs
    return period / math.ceil(period / cap - 1e-9)
