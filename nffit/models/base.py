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
    state_type : type
        A ``NamedTuple`` of the state variables (literature order), each of shape (N, B).
    params_type : type
        The parameter ``NamedTuple``; its defaults are the literature values.
    dfun : callable ``(y, c, params) -> dy``
        Drift; ``y`` a ``state_type``, ``c`` the network input (N, B); returns a ``state_type``.
    coupling_variable : callable ``(y, params) -> h``
        What a region sends along its efferent connections, shape (N, B).
    observe : callable ``(y, params) -> lfp``
        The region signal recorded (LFP), shape (N, B).
    noise_dims : int
        Number of independent white-noise inputs per region.
    diffusion : callable ``(z, params) -> g``
        Maps standard normals ``z`` (noise_dims, N, B) to state increments per sqrt(ms),
        a ``state_type`` (additive noise).
    coupling_of_lfp : callable ``(v, params) -> h``
        The coupling variable as a function of the LFP (``coupling_variable(y) =
        coupling_of_lfp(observe(y))``).
    coupling_slope : callable ``(v, params) -> dh/dv``
    equilibrium_lfp : callable ``(v, u, params) -> v``
        The LFP implied at a fixed point by the node's own LFP ``v`` and its input ``u``.
    equilibrium_bracket : callable ``(u, params) -> (low, high)``
        Bounds of every fixed-point LFP for input ``u``.
    transfer : callable ``(s, v, params) -> (numerator, denominator)``
        Input-to-LFP transfer function at the fixed point with LFP ``v``; the noise enters
        with the input.
    equilibrium_state : callable ``(v, u, params) -> y``
        The full state (a ``state_type``) at the fixed point with LFP ``v`` and input ``u``;
        the node's own stability is read from ``dfun``'s Jacobian there.
    coupling_transfer : callable ``(s, v, params) -> numerator``, optional
        Numerator of the input-to-coupling-variable transfer, over ``transfer``'s
        denominator. None: the coupling variable is a static function of the LFP (as in
        Jansen-Rit), so the numerator is ``coupling_slope(v) * transfer(s, v)[0]``.
    drive : callable ``params -> u0``, optional
        The constant input that ``equilibrium_lfp`` and ``equilibrium_state`` receive on top of
        the network input (Jansen-Rit: ``mu``); None: 0.
    max_dt_ms : float, optional
        Largest default integration step for this model (ms); None: the accuracy table's,
        measured on Jansen-Rit (:data:`nffit.integrators.MAX_DT_MS`).

    The six from ``coupling_of_lfp`` to ``equilibrium_state``, and the two after them, serve
    the analytic spectrum only (None otherwise).
    """

    name: str
    state_type: type
    params_type: type
    dfun: Callable[[Any, Array, Any], Any]
    coupling_variable: Callable[[Any, Any], Array]
    observe: Callable[[Any, Any], Array]
    noise_dims: int
    diffusion: Callable[[Array, Any], Any]
    coupling_of_lfp: Callable[[Array, Any], Array] | None = None
    coupling_slope: Callable[[Array, Any], Array] | None = None
    equilibrium_lfp: Callable[[Array, Array, Any], Array] | None = None
    equilibrium_bracket: Callable[[Array, Any], tuple[Array, Array]] | None = None
    transfer: Callable[[Array, Array, Any], tuple[Array, Array]] | None = None
    equilibrium_state: Callable[[Array, Array, Any], Any] | None = None
    coupling_transfer: Callable[[Array, Array, Any], Array] | None = None
    drive: Callable[[Any], Array] | None = None
    max_dt_ms: float | None = None

    @property
    def n_states(self) -> int:
        return len(self.state_type._fields)

    def constant_input(self, params: Any) -> Array | float:
        """``drive(params)``, or 0 without a ``drive``."""
        return 0.0 if self.drive is None else self.drive(params)

    def transfers(self, s: Array, v: Array, params: Any) -> tuple[Array, Array, Array]:
        """``(n, m, d)``: the LFP and coupling-variable numerators over the common denominator ``d``."""
        num, den = self.transfer(s, v, params)
        if self.coupling_transfer is None:
            return num, self.coupling_slope(v, params) * num, den
        return num, self.coupling_transfer(s, v, params), den
