"""The simulated spectrum against the analytic one (stable regime), and its common random
numbers: a deterministic function of the parameters, independent of the batch around it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nffit import JansenRitParams
from nffit.analytic_spectrum import make_analytic_spectrum
from nffit.errors import NffitError
from nffit.simulated_spectrum import make_simulated_spectrum

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


def test_common_random_numbers_and_vmap(spectrum):
    mu = jnp.array([0.22, 0.7, 0.3])
    batched = spectrum(JansenRitParams(mu=mu))
    alone = spectrum(JansenRitParams(mu=0.7))
    np.testing.assert_allclose(np.asarray(batched.psd[1]), np.asarray(alone.psd[0]), rtol=1e-5)
    mapped = jax.vmap(lambda m: spectrum(JansenRitParams(mu=m)))(mu)
    np.testing.assert_allclose(np.asarray(mapped.psd[:, 0]), np.asarray(batched.psd), rtol=1e-5)
    assert batched.valid.tolist() == [True, True, True]


def test_slow_speed_is_invalid_and_grid_is_checked(spectrum, three_nodes):
    out = spectrum(JansenRitParams(speed=jnp.array([0.5, 3.0])))  # below min_speed = 1 mm/ms
    assert out.valid.tolist() == [False, True]
    with pytest.raises(NffitError, match="Welch grid"):
        make_simulated_spectrum(three_nodes, np.array([2.25]), jax.random.key(0), segment_s=2.0)
