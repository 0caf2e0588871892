"""Convergence orders of the schemes on linear equations with known solutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nffit.integrators import MAX_DT_MS, default_dt, euler, heun, rk4

LAM = 1.3


def _integrate(scheme, dt, t_end, x0, forcing, dws):
    drift = lambda x, c: -LAM * x + c  # noqa: E731
    n = int(round(t_end / dt))

    def body(x, k):
        t = k * dt
        return scheme(drift, x, forcing(t), forcing(t + dt), dws[k], dt), None

    x, _ = jax.lax.scan(body, x0, jnp.arange(n))
    return x


@pytest.mark.parametrize("scheme, order", [(euler, 1.0), (heun, 2.0), (rk4, 2.0)])
def test_deterministic_order_with_time_varying_input(scheme, order):
    # rk4 interpolates the input linearly at the midpoint: order 2 in a time-varying input
    # x' = -lam x + cos t, x(0) = 1: x(t) = (lam cos t + sin t - lam e^{-lam t}) / (lam^2 + 1) + e^{-lam t}
    t_end = 2.0
    exact = (LAM * np.cos(t_end) + np.sin(t_end) - LAM * np.exp(-LAM * t_end)) / (LAM**2 + 1) + np.exp(-LAM * t_end)
    dts = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for dt in dts:
        n = int(round(t_end / dt))
        x = _integrate(scheme, dt, t_end, jnp.asarray(1.0), jnp.cos, jnp.zeros(n))
        errors.append(abs(float(x) - exact))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.15, slope


@pytest.mark.parametrize("scheme, order", [(euler, 1.0), (heun, 2.0), (rk4, 4.0)])
def test_deterministic_order_of_the_own_dynamics(scheme, order):
    # x' = -lam x + x^2 / 4 (logistic-like), x(0) = 1, constant input: the exact solution of the
    # Bernoulli equation is x(t) = lam / (1/4 + (lam - 1/4) e^{lam t})
    t_end, quarter = 2.0, 0.25
    exact = LAM / (quarter + (LAM - quarter) * np.exp(LAM * t_end))
    dts = np.array([0.4, 0.2, 0.1, 0.05])
    errors = []
    for dt in dts:
        x = np.float64(1.0)  # NumPy float64 scalars: the schemes are plain pytree maps
        for _ in range(int(round(t_end / dt))):
            x = scheme(lambda x, c: -LAM * x + quarter * x**2 + c, x, 0.0, 0.0, np.float64(0.0), dt)
        errors.append(abs(float(x) - exact))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.25, (slope, errors)


@pytest.mark.parametrize("scheme", [euler, heun, rk4])
def test_strong_order_one_for_additive_noise(scheme):
    # dX = -lam X dt + g dW. Exact X_T = e^{-lam T} X0 + g int_0^T e^{-lam (T - s)} dW(s), evaluated on a
    # grid 32x finer than the finest step (midpoint rule for the Ito integral).
    g, t_end, paths = 0.7, 1.0, 400
    dts = np.array([0.1, 0.05, 0.025])
    h = dts[-1] / 32
    n_fine = int(round(t_end / h))
    dw_fine = np.sqrt(h) * np.random.default_rng(0).standard_normal((n_fine, paths))
    s_mid = (np.arange(n_fine) + 0.5) * h
    exact = np.exp(-LAM * t_end) + g * np.sum(np.exp(-LAM * (t_end - s_mid))[:, None] * dw_fine, axis=0)
    errors = []
    for dt in dts:
        per = int(round(dt / h))
        dws = g * dw_fine.reshape(-1, per, paths).sum(axis=1)
        x = _integrate(scheme, dt, t_end, jnp.ones(paths), lambda t: 0.0, jnp.asarray(dws))
        errors.append(np.sqrt(np.mean((np.asarray(x) - exact) ** 2)))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.8 < slope < 1.4, slope


@pytest.mark.parametrize("fs, method, expected", [(250.0, "heun", 1.0), (1250.0, "heun", 0.8), (160.0, "rk4", 6.25 / 7),
                                                  (250.0, "euler", 0.2), (4000.0, "heun", 0.25)])
def test_default_dt_divides_the_output_period(fs, method, expected):
    dt = default_dt(fs, method)
    assert dt == pytest.approx(expected, rel=1e-12)
    assert dt <= MAX_DT_MS[method] + 1e-12
    ratio = 1000.0 / (fs * dt)
    assert abs(ratio - round(ratio)) < 1e-9
