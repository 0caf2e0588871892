"""Montbrio-Pazo-Roxin through the same simulator and analytic spectrum as Jansen-Rit: a NumPy
reference network, the fixed points against a root finder, the transfer functions against
the Jacobian, and the analytic spectrum against simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.signal

from nffit import Connectome, make_simulator
from nffit.analytic_spectrum import fixed_point, make_analytic_spectrum
from nffit.models import MONTBRIO, MontbrioParams, get_model
from nffit.noise import entry_keys, standard_normal_block
from reference_mpr import simulate_reference

DT, DECIM = 0.1, 4


def test_registered_under_both_names():
    assert get_model("mpr") is get_model("montbrio") is MONTBRIO


def test_matches_numpy_reference_with_delays_and_noise(three_nodes):
    sim = make_simulator(three_nodes, model=MONTBRIO, dt=DT, duration_ms=60.0, transient_ms=0.0,
                         fs=1000.0 / (DT * DECIM), dtype=jnp.float64)
    p = dict(G=2.0, speed=2.0, sigma=0.3, eta=-4.0)
    out = sim.run(jax.random.key(3), MontbrioParams(**p))
    keys = entry_keys(jax.random.key(3), 1)
    z = np.concatenate([np.asarray(standard_normal_block(keys, jnp.asarray(k), (DECIM, 1, 3), jnp.float64))
                        for k in range(sim.n_samples)])[:, 0, :, 0]  # (n_steps, N)
    ref = simulate_reference(three_nodes.weights, three_nodes.lengths, p, DT, z, DECIM)
    assert out.finite.tolist() == [True]
    assert np.ptp(ref) > 0.1  # a trajectory that moves
    np.testing.assert_allclose(np.asarray(out.lfp[0]), ref, rtol=1e-9, atol=1e-11)


def _node_roots(p: MontbrioParams, u: float) -> list[float]:
    """Every fixed-point V of one node with input u, from the closed form (r = -Delta / (2 pi tau V))."""
    def drift(v):
        r = -p.Delta / (2 * np.pi * p.tau * v)
        return v**2 + p.eta + p.I + p.tau * (p.J * r + u) - (np.pi * p.tau * r) ** 2

    grid = -np.geomspace(10.0, 1e-3, 20_000)
    values = drift(grid)
    cross = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))
    return [scipy.optimize.brentq(drift, grid[i], grid[i + 1], xtol=1e-14) for i in cross]


@pytest.mark.parametrize("branch, pick", [("upper", max), ("lower", min)])
def test_fixed_point_branches_match_the_closed_form(branch, pick):
    p = MontbrioParams(eta=-5.0)
    roots = _node_roots(p, 0.0)
    assert len(roots) == 3  # bistable: low-activity node, saddle, high-activity focus
    weights = jnp.zeros((1, 1), jnp.float64)
    fp = fixed_point(MONTBRIO, weights, jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), p), 1, branch=branch)
    assert bool(fp.converged[0])
    np.testing.assert_allclose(float(fp.lfp[0, 0]), pick(roots), rtol=1e-8)
    state = MONTBRIO.equilibrium_state(fp.lfp, jnp.zeros((1, 1)), p)
    drift = MONTBRIO.dfun(state, jnp.zeros((1, 1)), p)
    np.testing.assert_allclose(np.stack(drift), 0.0, atol=1e-9)


def test_transfers_match_the_jacobian():
    p = MontbrioParams(eta=-5.0)
    v = jnp.asarray(max(_node_roots(p, 0.02)), jnp.float64)
    state = MONTBRIO.equilibrium_state(v, 0.02, p)
    jac = np.asarray(jax.jacfwd(lambda y: jnp.stack(MONTBRIO.dfun(type(state)(*y), jnp.asarray(0.02), p)))(jnp.stack(state)))
    for w in (0.0, 0.05, 0.3, 2.0):  # rad/ms
        resolvent = np.linalg.inv(1j * w * np.eye(2) - jac)  # input enters V' with gain 1
        num, coupling_num, den = MONTBRIO.transfers(jnp.asarray(1j * w), v, p)
        np.testing.assert_allclose(complex(num / den), resolvent[1, 1], rtol=1e-10)
        np.testing.assert_allclose(complex(coupling_num / den), resolvent[0, 1], rtol=1e-10)


def test_two_node_delayed_network_matches_simulation():
    conn = Connectome(np.array([[0.0, 1.0], [0.6, 0.0]]), np.array([[0.0, 30.0], [30.0, 0.0]]), ("a", "b"), None)
    params = MontbrioParams(G=0.5, sigma=0.005)
    fs, nperseg = 250.0, 1000
    sim = make_simulator(conn, model=MONTBRIO, dt=DT, duration_ms=40_000.0, transient_ms=2000.0, fs=fs)
    # start every entry at the high-activity focus (r = V = 0 drifts to the quiet state)
    v0 = fixed_point(MONTBRIO, jnp.asarray(conn.weights, jnp.float32), params, 1).lfp  # (2, 1)
    y0 = jnp.stack(MONTBRIO.equilibrium_state(v0, 0.0, params))  # (2 states, N, 1)
    out = sim.run(jax.random.key(0), params, batch_size=32, initial_state=jnp.broadcast_to(y0, (2, 2, 32)))
    assert bool(out.finite.all())
    freqs, psd = scipy.signal.welch(np.asarray(out.lfp), fs=fs, nperseg=nperseg, axis=1)
    band = (freqs >= 2.0) & (freqs <= 100.0)
    analytic = make_analytic_spectrum(conn, freqs[band], model=MONTBRIO)(params)
    assert bool(analytic.valid[0])
    m, dt = sim.decimation, sim.dt / 1000.0
    f = freqs[band]
    boxcar = (np.sin(np.pi * f * m * dt) / (m * np.sin(np.pi * f * dt))) ** 2
    ratio = np.log10(psd.mean(axis=0).T[:, band] / (np.asarray(analytic.psd[0]) * boxcar))
    peak = f[np.argmax(np.asarray(analytic.psd[0, 0]))]
    assert 30.0 < peak < 90.0, peak  # the focus' damped gamma-band resonance at tau = 10 ms
    assert np.sqrt(np.mean(ratio**2)) <= 0.05, np.sqrt(np.mean(ratio**2))


def test_default_step_is_the_models_own():
    sim = make_simulator(Connectome(np.zeros((1, 1)), np.zeros((1, 1)), ("x",), None), model=MONTBRIO,
                         duration_ms=4.0, transient_ms=0.0)
    assert sim.dt == pytest.approx(MONTBRIO.max_dt_ms) and sim.decimation == 40  # 250 Hz


def test_fitting_facts_are_per_model():
    from nffit.errors import NffitError
    from nffit.priors import default_free, parameter_names, split_values

    assert default_free(MONTBRIO)[:4] == ("G", "tau", "eta", "speed")
    assert parameter_names(MONTBRIO)[:5] == ("tau", "Delta", "eta", "J", "I")
    params, _ = split_values({"tau": 40.0, "log10_scale": 1.0}, MONTBRIO)
    assert isinstance(params, MontbrioParams) and params.tau == 40.0
    with pytest.raises(NffitError, match="unknown parameter.*mu of montbrio"):
        split_values({"mu": 0.2}, MONTBRIO)
    with pytest.raises(NffitError, match="no default free parameters"):
        default_free(MONTBRIO._replace(name="other"))
