"""The :class:`Model` bundle: what the simulator needs from a node model."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from jax import Array

__all__ = ["Model"]


class Model(NamedTuple):
    """The functions and facts that define a node model.

    Attributes
    ----------
    name : str
    state_names : tuple of str
        Names of the ``n_states`` state variables, in the order of axis 0.
    params_type : type
        The parameter ``NamedTuple``; its defaults are the literature values.
    dfun : callable ``(y, c, params) -> dy``
        Drift; ``y`` (n_states, N, B), ``c`` the network input (N, B); returns (n_states, N, B).
    coupling_variable : callable ``(y, params) -> h``
        What a region sends along its efferent connections, shape (N, B).
    observe : callable ``(y, params) -> lfp``
        The region signal recorded (LFP), shape (N, B).
    noise_dims : int
        Number of independent white-noise inputs per region.
    diffusion : callable ``(z, params) -> g``
        Maps standard normals ``z`` (noise_dims, N, B) to state increments per sqrt(ms),
        shape (n_states, N, B) (additive noise).
    """

    name: str
    state_names: tuple[str, ...]
    params_type: type
    dfun: Callable[[Array, Array, Any], Array]
    coupling_variable: Callable[[Array, Any], Array]
    observe: Callable[[Array, Any], Array]
    noise_dims: int
    diffusion: Callable[[Array, Any], Array]
