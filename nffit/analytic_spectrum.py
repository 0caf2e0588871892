r"""Power spectrum of the delayed network linearised at its fixed point, with exact delays.

1. Fixed point: every region's LFP ``v*_i`` solves ``v = T_i(v, u_i)`` with the static network
   input ``u_i = u0 + G sum_j W_ij h(v*_j)`` (``T`` is the model's ``equilibrium_lfp``, ``u0`` its
   constant ``drive``: Jansen-Rit's ``mu``; ``h`` the coupling variable at a fixed point as a
   function of the LFP). Damped Newton iterations run without gradient; two final Newton
   steps carry the implicit derivatives exactly: the first gives
   ``dv*/dtheta = -J^{-1} dF/dtheta``, the second the second derivatives (Newton's map has
   zero derivative at its root; with one step, forward-over-reverse Hessians missed the
   fixed point's second-order terms, tested).
2. Each node is reduced to its transfers from the input to its LFP, ``n_i(s) / d_i(s)``, and
   to its coupling variable, ``m_i(s) / d_i(s)`` (same denominator; Jansen-Rit's coupling
   variable is a static function of the LFP, so ``m = h'(v*) n``).
3. With ``K_ij(w) = G W_ij exp(-i w tau_ij)`` and ``tau_ij = length_ij / speed`` (ms), the
   matrix ``A(w) = diag(d(iw)) - K(w) diag(m(iw))`` gives the LFP response to the input
   noise, ``dv = diag(n) A^{-1} sigma xi``, one N x N complex solve per frequency (with a
   hand-written derivative, :func:`_make_network_psd`). Sensors
   ``Y = Gamma dv`` have the one-sided PSD (scipy's density convention, units^2/Hz)

   .. math::  P_c(f) = \frac{2}{1000} \sum_k |(\Gamma\, \mathrm{diag}(n) A^{-1})_{ck}|^2 \sigma_k^2,
              \qquad w = 2\pi f / 1000 \text{ rad/ms},

   the factor 2/1000 turning the two-sided density of white noise in ms into a one-sided
   density per Hz.
4. Stability: ``det A(s)`` has no poles in the right half plane (those of ``d_i`` are in the
   left one: Jansen-Rit's at ``-a`` and ``-b``) and tends to 1 as ``|s|`` grows, so by the
   argument principle the number of unstable modes is ``Z = -Delta arg det A(iw) / pi`` over
   ``w`` from 0 to infinity. The phase is split as
   ``arg det A = sum_i arg d_i + arg det(I - K diag(m / d))``. The zeros of ``d_i`` are the
   eigenvalues of the node's own Jacobian (``dfun`` at the fixed point, network input held),
   counted exactly by the Routh-Hurwitz table of its characteristic polynomial; the network
   factor is unwrapped on a grid from 0 to ``stability_fmax`` Hz in steps of
   ``stability_df`` Hz. Checked against the eigenvalues of the undelayed 6N x 6N Jacobian in
   the tests. Limits: a mode above ``stability_fmax``, or a phase that turns by more than pi
   between grid points, can be missed; a count that is not close to an integer (or a zero in
   the Routh table) is treated as unstable.

   Small-gain shortcut: ``|(K diag(m / d))_ij| <= G W_ij g_j`` with ``g_j = max_w |m_j / d_j|``,
   so if the Perron root of that non-negative matrix is below 1, no eigenvalue of
   ``K(iw) diag(m / d)`` can reach 1 for any coupling strength between 0 and G: the network
   factor does not wind (homotopy from G = 0) and only the node factors count. The Perron
   root is bounded from above by Collatz-Wielandt after a few power iterations; ``g_j`` is
   taken on a grid ten times finer than the network factor's. When every
   entry of a batch passes (most of the prior's mass on tvb76), the N x N determinants of the
   network factor are skipped; the batch is the native one even under ``jax.vmap`` (e.g.
   numpyro's vectorised chains), through ``jax.custom_batching.custom_vmap``.

A parameter set is ``valid`` when Newton converged, ``Z = 0`` and the PSD is finite; the
likelihood gives -inf otherwise.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array, lax

from nffit.batching import native_batch
from nffit.connectome import Connectome
from nffit.errors import NffitError
from nffit.models import JANSEN_RIT, Model
from nffit.simulator import as_params, batch_size_of_params

__all__ = ["FixedPoint", "AnalyticSpectrum", "fixed_point", "make_analytic_spectrum", "ONE_SIDED_PER_HZ"]

ONE_SIDED_PER_HZ = 2.0 / 1000.0
"""Two-sided density of white noise in ms -> one-sided density per Hz."""


class FixedPoint(NamedTuple):
    """Fixed point of the network.

    Attributes
    ----------
    lfp : Array, shape (N, B), mV
    residual : Array, shape (B,), largest ``|v - T(v, u)|`` in mV
    converged : bool Array, shape (B,)
    """

    lfp: Array
    residual: Array
    converged: Array


class AnalyticSpectrum(NamedTuple):
    """Result of the analytic spectrum.

    Attributes
    ----------
    psd : Array, shape (B, C, F)
        One-sided PSD (units of the gain times mV, squared, per Hz) of C sensors (or N
        regions without a gain) at the F requested frequencies.
    valid : bool Array, shape (B,)
    n_unstable : Array, shape (B,)
        Number of unstable modes from the argument principle (before rounding).
    fixed_point : FixedPoint
    """

    psd: Array
    valid: Array
    n_unstable: Array
    fixed_point: FixedPoint


def _chunked_map(fn: Callable[[Array], Array], xs: Array, size: int) -> Array:
    """``fn`` of chunks of at most ``size`` items of ``xs`` (``fn`` maps a chunk (K, ...) to
    outputs with leading axis K), one chunk after another, the chunks as equal as possible
    (20 items in chunks of 16 run as 2 x 10, not 2 x 16 with 12 of padding).

    Unlike ``lax.map(..., batch_size=...)`` there is no separate remainder computation: two
    batched LAPACK kernels that XLA runs concurrently deadlock jax 0.10's CPU thread pool.
    """
    n = xs.shape[0]
    size = max(1, min(size, n))
    chunks = -(-n // size)
    size = -(-n // chunks)
    padded = jnp.concatenate([xs, jnp.repeat(xs[-1:], chunks * size - n, axis=0)])
    out = lax.map(fn, padded.reshape((chunks, size) + xs.shape[1:]))
    return jax.tree.map(lambda y: y.reshape((chunks * size,) + y.shape[2:])[:n], out)


def _one_matrix_at_a_time() -> bool:
    """True on a CPU split into several devices (:func:`nffit.sharding.use_cpu_cores`): there
    batched LAPACK kernels of two devices running at once deadlock jax 0.10 (its CPU kernels
    hand a batch's matrices to the intra-op thread pool and block until they are done; with
    every pool thread blocked so, none is left to do them). Single-matrix calls stay on their
    thread (tested in tests/test_sharding.py)."""
    return jax.default_backend() == "cpu" and jax.local_device_count() > 1


def _lapack(fn: Callable[..., Any], *matrices: Array) -> Any:
    """``fn(*matrices)`` over their common leading batch axes; under
    :func:`_one_matrix_at_a_time` one matrix per LAPACK call, under ``jax.vmap`` too (a loop
    over the batch, and over any mapped axis by :func:`_one_at_a_time`), while the rest of the
    computation stays batched. No reverse mode there (no transpose rule): differentiate
    :func:`_solve` and :func:`_solve_factored`, which call it on primal values only."""
    if not _one_matrix_at_a_time():
        return fn(*matrices)
    batch = matrices[0].shape[:-2]
    flat = [m.reshape((-1,) + m.shape[len(batch):]) for m in matrices]
    out = jax.vmap(_one_at_a_time(fn))(*flat)
    return jax.tree.map(lambda y: y.reshape(batch + y.shape[1:]), out)


def _one_at_a_time(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that ``jax.vmap`` turns into a loop (``jax.custom_batching.sequential_vmap``,
    which fails when no argument is batched, as when ``jax.jacfwd`` maps tangents only)."""
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        if not any(in_batched):
            out = fn(*args)
            return out, jax.tree.map(lambda _: False, out)
        args = [a if b else jnp.broadcast_to(a, (axis_size,) + a.shape) for a, b in zip(args, in_batched)]
        out = lax.map(lambda a: wrapped(*a), args)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def _linear_solve(matvec: Callable[[Array], Array], lu: Array, pivots: Array, b: Array) -> Array:
    """``A^{-1} b`` for ``A`` (..., N, N), the linear map ``matvec``, factored as ``(lu,
    pivots)``; ``b`` (..., N, C). ``lax.custom_linear_solve``: differentiable in ``b`` and in
    what ``matvec`` closes over, while its solves, of the transpose too, are :func:`_lapack`
    calls on primal values."""
    return lax.custom_linear_solve(matvec, b, solve=lambda _, y: _lapack(_lu_solve, lu, pivots, y),
                                   transpose_solve=lambda _, y: _lapack(_lu_solve_transposed, lu, pivots, y))


def _solve_factored(lu: Array, pivots: Array, b: Array) -> Array:
    """``A^{-1} b`` from the LU factors of ``A``, linear in ``b`` (the factors are constants).
    On a split CPU through :func:`_linear_solve`, with ``A`` rebuilt from its factors (never
    evaluated; unlike ``A`` itself, the factors are kept for the transposed solve anyway)."""
    if not _one_matrix_at_a_time():
        return _lu_solve(lu, pivots, b)
    return _linear_solve(lambda x: _lu_matvec(lu, pivots, x), lu, pivots, b)


def _solve(a: Array, b: Array) -> Array:
    """``jnp.linalg.solve(a, b)`` for ``a`` (..., N, N), ``b`` (..., N, C); on a split CPU
    through :func:`_linear_solve`."""
    if not _one_matrix_at_a_time():
        return jnp.linalg.solve(a, b)
    lu, pivots = _lapack(_lu_factor, lax.stop_gradient(a))
    return _linear_solve(lambda x: a @ x, lu, pivots, b)


def _lu_matvec(lu: Array, pivots: Array, x: Array) -> Array:
    """``A x`` from ``lu, pivots = lu_factor(A)`` (``A = P L U``)."""
    n = lu.shape[-1]
    y = (jnp.tril(lu, -1) + jnp.eye(n, dtype=lu.dtype)) @ (jnp.triu(lu) @ x)  # L U x = (A x)[perm]
    perm = lax.linalg.lu_pivots_to_permutation(pivots, n)
    return jnp.take_along_axis(y, jnp.argsort(perm, axis=-1)[..., None], axis=-2)


# plain signatures for custom_vmap, which would pass the library functions' defaults as
# traced arguments
def _lu_factor(a: Array) -> tuple[Array, Array]:
    return jax.scipy.linalg.lu_factor(a)


def _slogdet(a: Array) -> tuple[Array, Array]:
    return jnp.linalg.slogdet(a)


def _lu_solve(lu: Array, pivots: Array, b: Array) -> Array:
    return jax.scipy.linalg.lu_solve((lu, pivots), b)


def _lu_solve_transposed(lu: Array, pivots: Array, b: Array) -> Array:
    return jax.scipy.linalg.lu_solve((lu, pivots), b, trans=1)


def _make_network_psd(weights: Array, lengths: Array, readout: Array, complex_dtype: Any) -> Callable[..., Array]:
    r"""``psd(w, den, cnum, num, G, speed, noise_var) -> (K, B, C)``: the sensor PSD at a chunk
    of angular frequencies ``w`` (K,) rad/ms from the nodes' transfers at ``s = iw`` (``den``
    ``d``, ``cnum`` ``m``, ``num`` ``n``: (K, B, N) complex), G (B,), speed (B,) mm/ms and the
    input noise variances (B, N), with a hand-written derivative.

    Value: ``A^T = diag(d) - G diag(m) (W o E)^T`` with ``E_ij = exp(-i w L_ij / speed)``
    evaluated only where ``W_ij != 0`` (27 % of tvb76) and scattered into place, then
    ``X = A^{-T} (Gamma diag(n))^T`` by one LU and ``P_c = (2/1000) sum_k sigma_k^2 |X_kc|^2``.

    Derivative (forward mode; JAX transposes it for the gradient):
    ``dX = A^{-T} (dB - dA^T X)``, with ``dA^T X`` assembled from ``U = (W o E)^T X`` and
    ``V = (W o E o L)^T X`` (N^2 C each) and the tangents of d, m, G and speed, which are
    vectors: no N^2-sized tangent or cotangent is formed, where automatic differentiation of
    the construction of ``A`` runs a chain of them (the spectrum is bound by memory traffic on
    small CPUs). Forward mode over reverse mode through this rule (``jax.hessian``) runs the
    tangent's and the cotangent's LU solves independently of each other, which jax 0.10's
    CPU runtime may execute at once and deadlock on: nffit takes Hessians of the log density
    by differences of gradients (:func:`nffit.inference.hessian`).
    """
    n = weights.shape[0]
    rows, cols = np.nonzero(np.asarray(weights))
    transposed = jnp.asarray(cols * n + rows)  # entry (i, j) of W goes to (j, i) of (W o E)^T
    w_nz = jnp.asarray(np.asarray(weights)[rows, cols])
    l_nz = jnp.asarray(np.asarray(lengths)[rows, cols])
    lengths_t = jnp.asarray(np.asarray(lengths).T)
    rhs = readout.T  # (N, C)

    def coupling_t(w, speed):  # (W o E)^T, (K, B, N, N)
        phase = (w[:, None, None] / speed[None, :, None]) * l_nz  # (K, B, nnz) rad
        values = (w_nz * jnp.exp(-1j * phase)).astype(complex_dtype)
        flat = jnp.zeros(values.shape[:-1] + (n * n,), complex_dtype).at[..., transposed].set(values, unique_indices=True)
        return flat.reshape(values.shape[:-1] + (n, n))

    def solve(w, den, cnum, num, g, speed, noise_var):
        c_t = coupling_t(w, speed)
        a_t = den[..., None] * jnp.eye(n, dtype=complex_dtype) - (g[:, None] * cnum)[..., None] * c_t
        lu, pivots = _lapack(_lu_factor, a_t)
        x = _lapack(_lu_solve, lu, pivots, num[..., None] * rhs)  # (K, B, N, C)
        power = x.real**2 + x.imag**2
        return ONE_SIDED_PER_HZ * jnp.einsum("kbnc,bn->kbc", power, noise_var), (c_t, lu, pivots, x, power)

    @jax.custom_jvp
    def psd(w, den, cnum, num, g, speed, noise_var):
        return solve(w, den, cnum, num, g, speed, noise_var)[0]

    @psd.defjvp
    def psd_jvp(primals, tangents):
        w, den, cnum, num, g, speed, noise_var = primals
        _, d_den, d_cnum, d_num, d_g, d_speed, d_var = tangents
        out, (c_t, lu, pivots, x, power) = solve(*primals)
        u = c_t @ x  # (W o E)^T X, (K, B, N, C)
        v = (c_t * lengths_t) @ x  # (W o E o L)^T X
        # row i of dA^T X: dd_i X_i - (dG m_i + G dm_i) U_i - G m_i (i w dspeed / speed^2) V_i
        d_phase = 1j * w[:, None] * (d_speed / speed**2)[None, :]  # (K, B)
        d_ax = (d_den[..., None] * x - (d_g[:, None] * cnum + g[:, None] * d_cnum)[..., None] * u
                - (g[:, None] * cnum * d_phase[..., None])[..., None] * v)
        d_x = _solve_factored(lu, pivots, d_num[..., None] * rhs - d_ax)
        d_power = 2.0 * (x.real * d_x.real + x.imag * d_x.imag)
        return out, ONE_SIDED_PER_HZ * (jnp.einsum("kbnc,bn->kbc", d_power, noise_var)
                                        + jnp.einsum("kbnc,bn->kbc", power, d_var))

    return psd


SMALL_GAIN_MARGIN = 0.9
"""Perron-root bound below which the network factor is known not to wind (the margin covers
the node gain's maximum taken on a grid)."""


def _perron_bound(weights: Array, column_scale: Array, iterations: int = 30) -> Array:
    """Upper bound on the Perron root of ``M_b = W diag(column_scale_b)``.

    ``weights`` (N, N) and the scale (N, B) are non-negative. Returns (B,)
    ``max_i (M x)_i / x_i`` (Collatz-Wielandt) for the positive ``x`` that ``iterations``
    power iterations reach from ones: never below the Perron root, equal to it in the limit.
    """
    matvec = lambda x: weights @ (column_scale * x)
    x = jnp.ones_like(column_scale)

    def step(_, x):
        y = matvec(x)
        return y / jnp.maximum(jnp.max(y, axis=0), 1e-30) + 1e-6

    x = lax.fori_loop(0, iterations, step, x)
    return jnp.max(matvec(x) / x, axis=0)


def node_unstable_modes(model: Model, v: Array, coupling: Array, params: Any) -> Array:
    """Number of unstable modes of each node at its fixed point, network input held fixed.

    The node Jacobian of ``dfun`` (one column per state, by forward mode) gives the
    characteristic polynomial (Faddeev-LeVerrier); the sign changes down the first column of
    its Routh table count the eigenvalues with positive real part.

    Parameters
    ----------
    model : Model with ``equilibrium_state``
    v : Array, shape (N, B), fixed-point LFP in mV
    coupling : Array, shape (N, B), the network input ``c`` of ``dfun`` at the fixed point
    params : the model's parameters

    Returns
    -------
    Array, shape (N, B): the count (float), NaN where the table has a zero pivot (a mode on
    the imaginary axis, or undecided in floating point).
    """
    state = model.equilibrium_state(v, model.constant_input(params) + coupling, params)
    n = len(state)

    def column(k):
        tangent = type(state)(*(jnp.full_like(x, float(i == k)) for i, x in enumerate(state)))
        return jnp.stack(jax.jvp(lambda y: model.dfun(y, coupling, params), (state,), (tangent,))[1])

    jac = jnp.moveaxis(jnp.stack([column(k) for k in range(n)], axis=1), (0, 1), (-2, -1))  # (N, B, n, n)
    jac = jac / jnp.maximum(jnp.max(jnp.abs(jac), axis=(-2, -1), keepdims=True), 1e-30)  # same signs of Re
    eye = jnp.eye(n, dtype=jac.dtype)
    coeffs, m = [jnp.ones(jac.shape[:-2], jac.dtype)], eye
    for k in range(1, n + 1):  # det(sI - J) = s^n + c_1 s^(n-1) + ... + c_n
        am = jac @ m
        coeffs.append(-jnp.trace(am, axis1=-2, axis2=-1) / k)
        m = am + coeffs[-1][..., None, None] * eye
    zero = jnp.zeros_like(coeffs[0])
    width = n // 2 + 1
    upper = (coeffs[0::2] + [zero] * width)[:width]
    lower = (coeffs[1::2] + [zero] * width)[:width]
    first = [upper[0], lower[0]]
    for _ in range(n - 1):
        pivot = lower[0]
        upper, lower = lower, [(pivot * upper[j + 1] - upper[0] * lower[j + 1]) / pivot for j in range(width - 1)] + [zero]
        first.append(lower[0])
    first = jnp.stack(first)  # (n + 1, N, B)
    changes = jnp.sum(jnp.sign(first[1:]) != jnp.sign(first[:-1]), axis=0).astype(jac.dtype)
    decided = jnp.all((first != 0) & jnp.isfinite(first), axis=0)
    return jnp.where(decided, changes, jnp.nan)


def _turn(phase: Array) -> Array:
    """Total change of an unwrapped phase along axis 0."""
    unwrapped = jnp.unwrap(phase, axis=0)
    return unwrapped[-1] - unwrapped[0]


def _elementwise_derivative(fn: Callable[[Array], Array], x: Array) -> Array:
    return jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def _node_root(model: Model, u: Array, params: Any, branch: str, grid: int = 384, bisections: int = 40) -> Array:
    """Per node, the highest (``branch="upper"``) or lowest root of ``v = T(v, u)``.

    A grid over the model's bracket finds the sign changes of ``F(v) = v - T(v, u)``; bisection
    refines the chosen one. ``u``: (N, B). Returns (N, B).
    """
    low, high = model.equilibrium_bracket(u, params)
    low, high = jnp.broadcast_to(low, u.shape), jnp.broadcast_to(high, u.shape)
    t = jnp.linspace(0.0, 1.0, grid, dtype=u.dtype)[:, None, None]
    v = low + t * (high - low)  # (G, N, B)
    f = v - model.equilibrium_lfp(v, u, params)
    cross = (jnp.sign(f[:-1]) != jnp.sign(f[1:]))
    index = jnp.arange(grid - 1)[:, None, None]
    pick = jnp.where(cross, index, -1).max(axis=0) if branch == "upper" else jnp.where(cross, index, grid).min(axis=0)
    pick = jnp.clip(pick, 0, grid - 2)
    lo = jnp.take_along_axis(v, pick[None], axis=0)[0]
    hi = jnp.take_along_axis(v, pick[None] + 1, axis=0)[0]
    f_lo = jnp.take_along_axis(f, pick[None], axis=0)[0]

    def bisect(_, bounds):
        a, b, fa = bounds
        mid = 0.5 * (a + b)
        fm = mid - model.equilibrium_lfp(mid, u, params)
        same = jnp.sign(fm) == jnp.sign(fa)
        return jnp.where(same, mid, a), jnp.where(same, b, mid), jnp.where(same, fm, fa)

    a, b, _ = lax.fori_loop(0, bisections, bisect, (lo, hi, f_lo))
    return 0.5 * (a + b)


def fixed_point(model: Model, weights: Array, params: Any, batch: int, *, branch: str = "upper", iterations: int = 30,
                newton_steps: int = 4, tol: float = 1e-4) -> FixedPoint:
    """Network fixed point: node roots on one branch under the network input, then Newton.

    Starting from each node's own root (no network input), the network input
    ``u = drive + G W h(v)`` (``drive``: the model's constant input, JR's ``mu``) and the node
    roots ``v = root(u)`` are iterated up to ``iterations`` times, until no root moves by more
    than ``tol`` (each node on the highest or lowest of its fixed-point branches), then
    ``newton_steps`` Newton steps on the whole network polish the result, all without
    gradient; two final Newton steps carry the implicit first and second derivatives exactly
    (``dv*/dtheta = -J^{-1} dF/dtheta`` from the first).

    Parameters
    ----------
    model : Model with ``equilibrium_lfp``, ``equilibrium_bracket``, ``coupling_of_lfp`` and
        ``coupling_slope``
    weights : Array, shape (N, N), ``W[i, j]`` from ``j`` to ``i``
    params : the model's parameter tuple with array fields ((), (B,) or (N, B))
    batch : int, B
    branch : {"upper", "lower"}
        Jansen-Rit has up to three fixed points per input; the upper branch carries the
        damped alpha resonance at high input, the lower one the quiet state.
    """
    n = weights.shape[0]
    eye = jnp.eye(n, dtype=weights.dtype)

    def network_input(v, p):
        return jnp.broadcast_to(model.constant_input(p) + p.G * (weights @ model.coupling_of_lfp(v, p)), v.shape)

    def residual_and_jacobian(v):
        u = network_input(v, params)
        residual = v - model.equilibrium_lfp(v, u, params)
        d_v = _elementwise_derivative(lambda x: model.equilibrium_lfp(x, u, params), v)  # (N, B)
        d_u = _elementwise_derivative(lambda x: model.equilibrium_lfp(v, x, params), u)
        network = (d_u * params.G)[:, None, :] * weights[:, :, None] * model.coupling_slope(v, params)[None, :, :]
        jac = eye[:, :, None] * (1.0 - d_v[:, None, :]) - network  # (N, N, B)
        return residual, jnp.moveaxis(jac, -1, 0)

    def newton(v):
        residual, jac = residual_and_jacobian(v)
        return v - _solve(jac, jnp.moveaxis(residual, -1, 0)[..., None])[..., 0].T

    frozen = lax.stop_gradient(params)
    uncoupled = jnp.broadcast_to(jnp.asarray(model.constant_input(frozen), weights.dtype), (n, batch))
    v = _node_root(model, uncoupled, frozen, branch)  # start: every node on its own (h(v) is defined there)

    def iterate(carry):
        i, v, _ = carry
        new = _node_root(model, network_input(v, frozen), frozen, branch)
        return i + 1, new, jnp.max(jnp.abs(new - v))

    # stop early once the node roots move by less than `tol` (Newton polishes the rest)
    _, v, _ = lax.while_loop(lambda c: (c[0] < iterations) & (c[2] > tol), iterate, (0, v, jnp.asarray(jnp.inf, v.dtype)))
    v = lax.stop_gradient(lax.fori_loop(0, newton_steps, lambda _, v: newton(v), v))
    v = newton(newton(v))  # exact first derivatives from the first step, second ones from the second
    final = jnp.max(jnp.abs(residual_and_jacobian(v)[0]), axis=0)
    return FixedPoint(v, final, jnp.isfinite(final) & (final < tol))


def make_analytic_spectrum(
    connectome: Connectome,
    freqs: np.ndarray,
    *,
    model: Model = JANSEN_RIT,
    gain: np.ndarray | None = None,
    stability_fmax: float = 200.0,
    stability_df: float = 0.5,
    branch: str = "upper",
    freq_batch: int | None = None,
    dtype: Any = jnp.float32,
    small_gain: bool = True,
) -> Callable[..., AnalyticSpectrum]:
    """Build ``spectrum(params) -> AnalyticSpectrum`` for a batch of parameter sets.

    Parameters
    ----------
    connectome : Connectome (weights (N, N), lengths in mm)
    freqs : ndarray, shape (F,), Hz
        Frequencies of the returned PSD (e.g. the observed Welch grid).
    model : Model with the analytic hooks (Jansen-Rit by default)
    gain : ndarray, shape (C, N), optional
        Region-to-sensor gain; None returns the region LFP spectra (C = N).
    stability_fmax, stability_df : float, Hz
        Grid of the stability check (see the module docstring).
    branch : {"upper", "lower"}
        Fixed-point branch, see :func:`fixed_point`.
    freq_batch : int, optional
        Frequencies solved together (memory B * freq_batch * N^2 complex numbers). Default:
        as many as fit in 32 MiB for the batch at hand (all of them for a few chains, one at
        a time for thousands of particles).
    dtype : float32 (default) or float64
    small_gain : bool
        Skip the network factor's determinants where the small-gain bound proves it does not
        wind (default True; False always evaluates them, for checks).

    Returns
    -------
    callable ``spectrum(params, *, batch_size=None) -> AnalyticSpectrum``, jitted (compiled
    once per parameter structure and batch size).

    Examples
    --------
    >>> import numpy as np
    >>> from nffit import load_connectome, JansenRitParams
    >>> spectrum = make_analytic_spectrum(load_connectome("tvb76"), np.arange(1.0, 41.0))
    >>> out = spectrum(JansenRitParams(mu=0.7, G=0.5))  # upper branch, stable: damped alpha
    >>> out.psd.shape, bool(out.valid[0])
    ((1, 76, 40), True)
    """
    if branch not in ("upper", "lower"):
        raise NffitError(f"branch must be 'upper' or 'lower', got {branch!r}")
    if model.transfer is None or model.equilibrium_state is None:
        raise NffitError(f"model {model.name} has no analytic transfer function; use the simulated spectrum")
    freqs = np.asarray(freqs, dtype=float)
    if freqs.ndim != 1 or freqs.size == 0 or np.any(freqs < 0) or not np.all(np.isfinite(freqs)):
        raise NffitError("freqs must be a non-empty 1-D array of frequencies >= 0 Hz")
    n = connectome.n_regions
    use_small_gain = bool(small_gain)
    complex_dtype = jnp.complex64 if jnp.dtype(dtype) == jnp.float32 else jnp.complex128
    weights = jnp.asarray(connectome.weights, dtype)
    lengths = jnp.asarray(connectome.lengths, dtype)
    if gain is not None:
        gain = np.asarray(gain, float)
        if gain.ndim != 2 or gain.shape[1] != n or not np.all(np.isfinite(gain)):
            raise NffitError(f"gain must be a finite (channels, {n}) matrix, got shape {gain.shape}")
    readout = jnp.asarray(np.eye(n) if gain is None else gain, complex_dtype)  # (C, N)
    network_psd = _make_network_psd(weights, lengths, readout, complex_dtype)
    omega = jnp.asarray(2.0 * np.pi * freqs / 1000.0, dtype)
    n_grid = int(math.floor(stability_fmax / stability_df)) + 1
    omega_grid = jnp.asarray(2.0 * np.pi * stability_df * np.arange(n_grid) / 1000.0, dtype)
    omega_nodes = jnp.asarray(2.0 * np.pi * np.linspace(0.0, stability_fmax, 10 * n_grid) / 1000.0, dtype)

    def chunk(batch: int) -> int:
        """Frequencies per chunk: ``freq_batch``, or as many as fit in 32 MiB of A(w)."""
        return freq_batch or max(1, (32 << 20) // (batch * n * n * jnp.dtype(complex_dtype).itemsize))

    def spectrum(params: Any, *, batch_size: int | None = None) -> AnalyticSpectrum:
        params = as_params(params, model, dtype)
        batch = batch_size or batch_size_of_params(params, n) or 1
        fp = fixed_point(model, weights, params, batch, branch=branch)
        v = fp.lfp
        speed = jnp.broadcast_to(params.speed, (batch,))
        noise_var = jnp.broadcast_to(params.sigma**2, (n, batch)).T  # (B, N)

        # arg det A = sum_i arg d_i + arg det(I - diag(H) K): each part is unwrapped on its
        # own, the node factors (sharp resonances near a Hopf point) on a finer grid
        v_c, p_c = lax.stop_gradient(v), lax.stop_gradient(params)
        tau_c = lengths[:, :, None] / jnp.broadcast_to(p_c.speed, (batch,))  # (N, N, B), ms
        coupling = p_c.G * (weights @ model.coupling_of_lfp(v_c, p_c))
        node_modes = jnp.sum(node_unstable_modes(model, v_c, coupling, p_c), axis=0)  # (B,)

        def network_phase(w, v_c, p_c, tau_c):  # arg det(I - K diag(m / d)), (K, B) at a chunk w (K,)
            _, m, d = model.transfers(1j * w[:, None, None], v_c[None], p_c)
            gain = jnp.broadcast_to(m / d, w.shape + v_c.shape).astype(complex_dtype)  # (K, N, B)
            k = p_c.G * weights[:, :, None] * jnp.exp(-1j * w[:, None, None, None] * tau_c)  # (K, N, N, B)
            relative = jnp.eye(n, dtype=complex_dtype)[:, :, None] - k * gain[:, None]
            return jnp.angle(_lapack(_slogdet, jnp.moveaxis(relative, -1, 1))[0])

        def winding(args):
            return _turn(_chunked_map(lambda w: network_phase(w, *args), omega_grid, chunk(args[0].shape[-1])))

        def network_winding(v_c, p_c, tau_c, small_gain):
            # The batch here is native (custom_vmap below). No determinant when every entry
            # passes the small-gain test; only those of the failing entries when they are few
            # (gathered into a batch of `few`); all of them otherwise.
            args, size = (v_c, p_c, tau_c), small_gain.shape[0]
            few = max(1, size // 8)
            failing = jnp.nonzero(~small_gain, size=few, fill_value=0)[0]

            def some():
                turn = winding(jax.tree.map(lambda x: x[..., failing], args))
                return jnp.zeros(size, dtype).at[failing].set(turn)

            n_failing = jnp.sum(~small_gain)
            turn = lax.cond(n_failing == 0, lambda: jnp.zeros(size, dtype),
                            lambda: lax.cond(n_failing <= few, some, lambda: winding(args)))
            return jnp.where(small_gain, 0.0, turn)

        # frequency as the last axis, and |m / d| from the squared moduli: 37 % faster on a CPU
        # than the modulus of the quotient with frequency first (XLA), the same maximum to rounding
        p_last = jax.tree.map(lambda x: jnp.asarray(x)[..., None], p_c)
        _, m_nodes, d_nodes = model.transfers(1j * omega_nodes, v_c[..., None], p_last)  # (N, B, G')
        power = lambda z: z.real**2 + z.imag**2
        gain_max = jnp.sqrt(jnp.max(jnp.broadcast_to(power(m_nodes) / power(d_nodes), v.shape + omega_nodes.shape),
                                    axis=-1))
        small_gain = _perron_bound(weights, p_c.G * gain_max) < (SMALL_GAIN_MARGIN if use_small_gain else 0.0)
        full_params = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, batch)), p_c)
        network_turn = native_batch(network_winding)(v_c, full_params, tau_c, small_gain)

        g = jnp.broadcast_to(params.G, (batch,))

        def psd_at(w):  # a chunk of frequencies (K,) -> (K, B, C)
            num, coupling_num, den = (jnp.swapaxes(jnp.broadcast_to(x, w.shape + v.shape), 1, 2).astype(complex_dtype)
                                      for x in model.transfers(1j * w[:, None, None], v[None], params))  # (K, B, N)
            return network_psd(w, den, coupling_num, num, g, speed, noise_var)

        # The spectrum's solves start only after the stability solves (and its gradient's
        # after both): two batched LAPACK kernels running at once can deadlock jax 0.10's
        # CPU thread pool.
        network_turn, omega_after = lax.optimization_barrier((network_turn, omega))
        psd = _chunked_map(psd_at, omega_after, chunk(batch))  # (F, B, C)
        psd = jnp.moveaxis(psd, 0, -1)

        n_unstable = node_modes - network_turn / jnp.pi
        stable = jnp.abs(n_unstable) < 0.25
        valid = fp.converged & stable & jnp.all(jnp.isfinite(psd), axis=(1, 2))
        return AnalyticSpectrum(psd, valid, n_unstable, fp)

    return jax.jit(spectrum, static_argnames="batch_size")
