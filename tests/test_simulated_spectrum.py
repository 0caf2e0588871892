"""The simulated spectrum against the analytic one (stable regime) and against Welch's
method on one long run (windows that join), and its common random numbers: a deterministic
function of the parameters, independent of the batch around it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from nffit import JansenRitParams
from nffit.analytic_spectrum import make_analytic_spectrum
from nffit.errors import NffitError
from nffit.simulated_spectrum import boxcar_response, joined_welch, make_simulated_spectrum
from nffit.simulator import make_simulator

FREQS = np.arange(2.0, 41.0, 1.0)
GAIN = np.array([[1.0, -0.5, 0.2], [0.1, 0.8, -0.9]])


@pytest.fixture(scope="module")
def spectrum(three_nodes):
    return make_simulated_spectrum(three_nodes, FREQS, jax.random.key(0), gain=GAIN, windows=16, window_s=8.0,
                                   segment_s=1.0, transient_s=1.0)


def test_matches_the_analytic_spectrum_at_a_stable_point(spectrum, three_nodes):
    params = JansenRitParams(mu=0.7, G=0.5, sigma=0.01)
    simulated = spectrum(params)
    analytic = make_analytic_spectrum(three_nodes, FREQS, gain=GAIN)(params)
    assert bool(simulated.valid[0]) and bool(analytic.valid[0])
    rms = np.sqrt(np.mean(np.log10(np.asarray(simulated.psd[0]) / np.asarray(analytic.psd[0])) ** 2))
    assert rms < 0.06, rms  # 16 windows x 15 segments: sampling error ~0.03 decades


def test_windows_at_a_stable_point_are_one_long_run(spectrum, three_nodes):
    """16 windows of 8 s that join are Welch's method on one 128 s run with the same noise."""
    params = JansenRitParams(mu=0.09, G=0.5, sigma=0.01)  # the lower fixed point: 1 s of transient joins
    windowed = spectrum(params)
    assert windowed.joins.tolist() == [15]
    long = make_simulator(three_nodes, duration_ms=128_000.0, transient_ms=1000.0)
    run = long.run(jax.random.split(jax.random.key(0), 1), params)  # the spectrum's noise stream
    sensors = GAIN @ np.asarray(run.lfp[0], float).T  # (C, T)
    freqs, psd = scipy.signal.welch(sensors, 250.0, nperseg=250)
    expected = psd[:, np.isin(freqs, FREQS)] / boxcar_response(FREQS, long.decimation, long.dt)
    np.testing.assert_allclose(np.asarray(windowed.psd[0]), expected, rtol=1e-5)  # float32 rounding


def test_joined_welch_against_scipy_segments():
    """Windows cut from one signal, with a broken join: each window's own segments plus the
    segment across the join that holds, as scipy computes them."""
    rng = np.random.default_rng(1)
    length, nperseg, hop = 120, 40, 20
    run = rng.standard_normal((2, 1 + 4 * length))  # two regions
    lfp = np.stack([run[:, w * length:w * length + length + 1].T for w in range(4)])  # (W, 1 + T, N)
    lfp[2, 0] += 1.0  # window 2 did not join window 1
    readout = np.array([[1.0, 0.5], [-0.3, 2.0], [0.0, 1.0]])
    freqs, psd, joins = joined_welch(jnp.asarray(lfp[None]), jnp.asarray(readout), 50.0, nperseg)
    sensors = readout @ run[:, 1:]  # (C, 4 T)
    pieces = [sensors[:, w * length:(w + 1) * length] for w in range(4)]
    across = [sensors[:, w * length - hop:w * length + hop] for w in (1, 3)]
    own = sum(scipy.signal.welch(p, 50.0, nperseg=nperseg)[1] * 5 for p in pieces)  # 5 segments per window
    straddle = sum(scipy.signal.welch(a, 50.0, nperseg=nperseg)[1] for a in across)
    assert joins.tolist() == [2]
    np.testing.assert_allclose(np.asarray(psd[0]), (own + straddle) / 22, rtol=1e-10)
    lfp[2, 0] -= 1.0  # every join holds: Welch on the whole run
    _, psd, joins = joined_welch(jnp.asarray(lfp[None]), jnp.asarray(readout), 50.0, nperseg)
    assert joins.tolist() == [3]
    np.testing.assert_allclose(np.asarray(psd[0]), scipy.signal.welch(sensors, 50.0, nperseg=nperseg)[1], rtol=1e-10)


def test_common_random_numbers_and_vmap(spectrum):
    mu = jnp.array([0.22, 0.09, 0.3])
    batched = spectrum(JansenRitParams(mu=mu))
    alone = spectrum(JansenRitParams(mu=0.09))
    np.testing.assert_allclose(np.asarray(batched.psd[1]), np.asarray(alone.psd[0]), rtol=1e-5)
    mapped = jax.vmap(lambda m: spectrum(JansenRitParams(mu=m)))(mu)
    np.testing.assert_allclose(np.asarray(mapped.psd[:, 0]), np.asarray(batched.psd), rtol=1e-5)
    assert batched.valid.tolist() == [True, True, True]
    assert batched.joins.tolist() == [0, 15, 0]  # a limit cycle does not forget its start


def test_slow_speed_is_invalid_and_grid_is_checked(spectrum, three_nodes):
    out = spectrum(JansenRitParams(speed=jnp.array([0.5, 3.0])))  # below min_speed = 1 mm/ms
    assert out.valid.tolist() == [False, True]
    with pytest.raises(NffitError, match="Welch grid"):
        make_simulated_spectrum(three_nodes, np.array([2.25]), jax.random.key(0), segment_s=2.0)
    with pytest.raises(NffitError, match="transient"):
        make_simulated_spectrum(three_nodes, FREQS, jax.random.key(0), segment_s=1.0, transient_s=0.0)
