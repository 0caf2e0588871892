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
"""

from __future__ import annotations

from typing import Callable

import jax
from jax import Array

from nffit.errors import NffitError

__all__ = ["euler", "heun", "SCHEMES", "get_scheme"]

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


SCHEMES: dict[str, Callable[..., Array]] = {"euler": euler, "heun": heun}


def get_scheme(name: str) -> Callable[..., Array]:
    """The scheme called ``name`` (``"euler"`` or ``"heun"``)."""
    if name not in SCHEMES:
        raise NffitError(f"unknown integration method {name!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[name]
