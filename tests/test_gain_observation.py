import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from nffit import NffitError
from nffit.gain import load_gain, load_tvb_eeg_gain, select_channels
from nffit.observation import ObservationParams, observe_spectrum, simulated_sensor_spectrum


@pytest.fixture(scope="module")
def gain():
    return load_tvb_eeg_gain()


def test_tvb_gain_shape_names_and_hemispheres(gain, tvb76):
    # 65 Brainstorm sensors minus the all-NaN IO1/IO2 rows; names in standard_1020 form
    assert gain.matrix.shape == (63, 76) and np.all(np.isfinite(gain.matrix))
    assert "IO1" not in gain.channels and "T8" in gain.channels and "T8/T4" not in gain.channels
    left = np.array([label.startswith("l") for label in tvb76.labels])
    for name, hemisphere in [("F3", left), ("C3", left), ("P3", left), ("O1", left),
                             ("F4", ~left), ("C4", ~left), ("P4", ~left), ("O2", ~left)]:
        power = select_channels(gain, [name]).matrix[0] ** 2  # each region's share of the channel's power
        assert power[hemisphere].sum() > 0.5 * power.sum(), name


def test_channel_selection_is_case_insensitive_and_suggests(gain):
    assert select_channels(gain, ["oz", "O1"]).channels == ("Oz", "O1")
    with pytest.raises(NffitError, match="did you mean"):
        select_channels(gain, ["Oz2"])


def test_user_gain_validation(tmp_path):
    np.save(tmp_path / "g.npy", np.ones((2, 3)))
    assert load_gain(tmp_path / "g.npy", ["A", "B"], 3).matrix.shape == (2, 3)
    with pytest.raises(NffitError, match="expected \\(2 channels, 4 regions\\)"):
        load_gain(tmp_path / "g.npy", ["A", "B"], 4)
    bad = np.ones((2, 3))
    bad[1, 2] = np.nan
    np.savetxt(tmp_path / "g.csv", bad, delimiter=",")
    with pytest.raises(NffitError, match="channel\\(s\\) B are not finite"):
        load_gain(tmp_path / "g.csv", ["A", "B"], 3)
    with pytest.raises(NffitError, match="no such gain file"):
        load_gain(tmp_path / "missing.npy", ["A"], 3)


def test_observation_model_terms():
    freqs = np.array([2.0, 4.0, 10.0, 40.0])
    net = jnp.asarray(np.random.default_rng(0).uniform(1, 2, (3, 2, 4)))
    obs = ObservationParams(log10_scale=jnp.array([0.0, 1.0, -1.0]), aperiodic_offset=jnp.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]),
                            aperiodic_exponent=2.0, knee=3.0, log10_floor=-1.0)
    out = np.asarray(observe_spectrum(net, freqs, obs))
    offsets = np.array([0.5, 1.0])
    expected = (10.0 ** np.array([0.0, 1.0, -1.0]))[:, None, None] * np.asarray(net) \
        + (10.0 ** offsets)[None, :, None] / (3.0 + freqs**2) + 0.1
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_simulated_sensor_spectrum_is_welch_of_projected_lfp():
    rng = np.random.default_rng(2)
    lfp, g = rng.standard_normal((2, 600, 4)), rng.standard_normal((3, 4))
    f, psd = simulated_sensor_spectrum(jnp.asarray(lfp), 100.0, g, nperseg=128)
    f_ref, p_ref = scipy.signal.welch(np.einsum("btn,cn->bct", lfp, g), fs=100.0, nperseg=128)
    np.testing.assert_allclose(np.asarray(psd)[..., 1:], p_ref[..., 1:], rtol=1e-4)
