import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from nffit import NffitError
from nffit.welch import welch, welch_dof, welch_segments

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 700)) + np.linspace(0, 3, 700)  # batched, with a trend


@pytest.mark.parametrize(
    "nperseg, noverlap, detrend, window",
    [(n, o, d, w) for (n, o), d, w in itertools.product(
        [(128, None), (127, None), (100, 0), (101, 77)], ["constant", "linear", False], ["hann", "hamming", "boxcar"])],
)
def test_matches_scipy_float64(nperseg, noverlap, detrend, window):
    kwargs = dict(nperseg=nperseg, noverlap=noverlap, detrend=detrend, window=window)
    f_ref, p_ref = scipy.signal.welch(X, fs=160.0, **kwargs)
    f, p = welch(jnp.asarray(X, jnp.float64), 160.0, **kwargs)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12)
    # boxcar with detrending makes the DC bin exactly 0 in exact arithmetic: compare on the scale of the spectrum
    np.testing.assert_allclose(np.asarray(p), p_ref, rtol=1e-10, atol=1e-13 * p_ref.max())


@pytest.mark.parametrize("nperseg, detrend", [(128, "constant"), (127, "linear"), (96, False)])
def test_matches_scipy_float32_and_1d(nperseg, detrend):
    x = X[0, 0].astype(np.float32)
    f_ref, p_ref = scipy.signal.welch(x.astype(np.float64), fs=250.0, nperseg=nperseg, detrend=detrend)
    f, p = welch(jnp.asarray(x), 250.0, nperseg=nperseg, detrend=detrend)
    assert p.dtype == jnp.float32 and p.shape == p_ref.shape
    keep = f > 0  # the DC bin of a demeaned segment is round-off in float32
    np.testing.assert_allclose(np.asarray(p)[keep], p_ref[keep], rtol=1e-5, atol=1e-6 * p_ref.max())


def test_time_axis_and_scaling():
    x = np.moveaxis(X, -1, 1)  # time on axis 1
    f_ref, p_ref = scipy.signal.welch(x, fs=100.0, nperseg=64, axis=1, scaling="spectrum")
    _, p = welch(jnp.asarray(x, jnp.float64), 100.0, nperseg=64, axis=1, scaling="spectrum")
    np.testing.assert_allclose(np.asarray(p), np.moveaxis(p_ref, 1, -1), rtol=1e-10)


def test_gradient_matches_finite_differences():
    x = jnp.asarray(X[0, 0, :300], jnp.float64)
    weights = jnp.linspace(0.5, 2.0, 33)

    def loss(signal):
        return jnp.sum(weights * jnp.log(welch(signal, 100.0, nperseg=64)[1]))

    grad = jax.grad(loss)(x)
    assert np.all(np.isfinite(np.asarray(grad)))  # the DC bin of a demeaned segment is exactly 0 in theory
    for k in (0, 57, 150, 299):
        e = jnp.zeros_like(x).at[k].set(1e-6)
        fd = (loss(x + e) - loss(x - e)) / 2e-6
        np.testing.assert_allclose(float(grad[k]), float(fd), rtol=1e-5, atol=1e-7)


def test_degrees_of_freedom():
    assert welch_dof(10, 256, 0) == 20.0  # 2K without overlap
    for k in (5, 20, 60):  # Hann at 50 %: Welch's approximation 36 K^2 / (19 K - 1)
        np.testing.assert_allclose(welch_dof(k, 256, 128), 36 * k**2 / (19 * k - 1), rtol=0.01)
    # Monte Carlo: var(P_hat) / E(P_hat)^2 = 2 / nu for white noise away from DC and Nyquist
    n, nperseg = 2048, 256
    k = welch_segments(n, nperseg, 128)
    x = np.random.default_rng(1).standard_normal((4000, n))
    _, p = scipy.signal.welch(x, nperseg=nperseg)
    ratio = p[:, 10:-10].var(axis=0).mean() / p[:, 10:-10].mean() ** 2
    np.testing.assert_allclose(2.0 / ratio, welch_dof(k, nperseg, 128), rtol=0.05)


def test_bad_arguments():
    with pytest.raises(NffitError, match="nperseg"):
        welch(jnp.ones(10), 1.0, nperseg=20)
    with pytest.raises(NffitError, match="noverlap"):
        welch(jnp.ones(100), 1.0, nperseg=20, noverlap=20)
    with pytest.raises(NffitError, match="detrend"):
        welch(jnp.ones(100), 1.0, nperseg=20, detrend="quadratic")
