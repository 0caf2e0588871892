import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.signal

from nffit import Connectome, JansenRitParams, NffitError, make_simulator
from nffit.noise import entry_keys, standard_normal_block
from reference_jr import DEFAULTS, jr_rhs, simulate_reference

DT = 0.1
DECIM = 4  # fs = 2500 Hz


@pytest.fixture(scope="module")
def sim3_f64(three_nodes):
    return make_simulator(three_nodes, dt=DT, duration_ms=40.0, transient_ms=0.0, fs=1000.0 / (DT * DECIM),
                          dtype=jnp.float64, min_speed=1.0, checkpoint_samples=7)


def _noise_for(keys, n_samples, n_regions, start=0):
    blocks = [np.asarray(standard_normal_block(keys, jnp.asarray(k), (DECIM, 1, n_regions), jnp.float64))
              for k in range(start, start + n_samples)]
    return np.concatenate(blocks)[:, 0]  # (n_steps, N, B)


@pytest.mark.parametrize("method, first_sample", [("heun", 0), ("euler", 0), ("heun", 9)])
def test_matches_numpy_reference_with_delays_and_noise(three_nodes, method, first_sample):
    """``first_sample = k`` starts in the key's noise stream at output sample k."""
    sim = make_simulator(three_nodes, dt=DT, duration_ms=40.0, transient_ms=0.0, fs=2500.0, method=method, dtype=jnp.float64)
    p = dict(G=3.0, speed=2.0, sigma=0.3, mu=0.15)
    out = sim.run(jax.random.key(7), JansenRitParams(**p), first_sample=first_sample)
    z = _noise_for(entry_keys(jax.random.key(7), 1), sim.n_samples, 3, start=first_sample)[..., 0]
    ref = simulate_reference(three_nodes.weights, three_nodes.lengths, p, DT, z, DECIM, method)
    assert out.finite.tolist() == [True]
    assert np.abs(ref).max() > 0.1  # a trajectory that moves
    np.testing.assert_allclose(np.asarray(out.lfp[0]), ref, rtol=1e-9, atol=1e-11)


def test_single_node_without_noise_matches_solve_ivp():
    node = Connectome(np.zeros((1, 1)), np.zeros((1, 1)), ("x",), None)
    dt = 0.02
    sim = make_simulator(node, dt=dt, duration_ms=150.0, transient_ms=0.0, fs=1000.0 / dt, dtype=jnp.float64)
    out = sim.run(jax.random.key(0), JansenRitParams(sigma=0.0))
    p = dict(DEFAULTS)
    t_eval = dt * np.arange(1, sim.n_samples + 1)
    sol = scipy.integrate.solve_ivp(lambda t, y: jr_rhs(y[:, None], p["mu"], p)[:, 0], (0, t_eval[-1]), np.zeros(6),
                                    t_eval=t_eval, rtol=1e-11, atol=1e-12, method="DOP853")
    v_ref = sol.y[1] - sol.y[2]
    assert np.ptp(v_ref) > 1.0
    np.testing.assert_allclose(np.asarray(out.lfp[0, :, 0]), v_ref, atol=2e-4 * np.ptp(v_ref))


def test_batched_equals_looped(three_nodes):
    sim = make_simulator(three_nodes, dt=DT, duration_ms=60.0, transient_ms=20.0, fs=500.0)
    params = JansenRitParams(mu=jnp.array([0.1, 0.2, 0.3]), G=jnp.array([0.5, 2.0, 5.0]), speed=jnp.array([1.5, 3.0, 8.0]))
    keys = jax.random.split(jax.random.key(3), 3)
    batched = sim.run(keys, params)
    for b in range(3):
        single = sim.run(keys[b:b + 1], jax.tree.map(lambda v: v[b:b + 1] if jnp.ndim(v) else v, params))
        np.testing.assert_allclose(np.asarray(batched.lfp[b]), np.asarray(single.lfp[0]), rtol=1e-5, atol=1e-5)
    # per-region parameters (N, B) broadcast like (B,)
    per_region = sim.run(keys, params._replace(mu=jnp.tile(params.mu, (3, 1))))
    np.testing.assert_allclose(np.asarray(per_region.lfp), np.asarray(batched.lfp), rtol=1e-6, atol=1e-6)


def test_reproducible_and_independent_entries(three_nodes):
    sim = make_simulator(three_nodes, duration_ms=50.0, transient_ms=0.0)
    a = sim.run(jax.random.key(11), batch_size=3)
    b = sim.run(jax.random.key(11), batch_size=3)
    np.testing.assert_array_equal(np.asarray(a.lfp), np.asarray(b.lfp))
    lfp = np.asarray(a.lfp)
    assert not np.allclose(lfp[0], lfp[1]) and not np.allclose(lfp[1], lfp[2])
    # common random numbers: equal keys -> equal noise -> equal output for equal parameters
    same = sim.run(jnp.stack([jax.random.key(5)] * 2))
    np.testing.assert_array_equal(np.asarray(same.lfp[0]), np.asarray(same.lfp[1]))


def test_output_does_not_depend_on_checkpoint_chunking(three_nodes):
    kwargs = dict(duration_ms=80.0, transient_ms=8.0, fs=500.0)
    a = make_simulator(three_nodes, checkpoint_samples=3, **kwargs).run(jax.random.key(2), batch_size=2)
    b = make_simulator(three_nodes, checkpoint_samples=50, **kwargs).run(jax.random.key(2), batch_size=2)
    np.testing.assert_allclose(np.asarray(a.lfp), np.asarray(b.lfp), rtol=1e-6, atol=1e-6)


def test_impulse_arrives_exactly_lag_steps_later():
    # A relay model: with Euler, y(t + 1) = c(t) + impulse, and c_i(t) = sum_j W_ij y_j(t - lag_ij).
    from typing import NamedTuple

    from nffit.models import Model

    class Relay(NamedTuple):
        G: float = 1.0
        speed: float = 1.0
        sigma: float = 1.0

    class RelayState(NamedTuple):
        y: jax.Array

    relay = Model("relay", RelayState, Relay, lambda s, c, p: RelayState((c - s.y) / DT), lambda s, p: s.y,
                  lambda s, p: s.y, 1, lambda z, p: RelayState(z[0] / np.sqrt(DT)))
    lengths = np.array([[0.0, 0.0, 0.0], [0.73, 0.0, 0.0], [0.0, 1.92, 0.0]])  # mm; speed 1 mm/ms -> 7 and 19 steps
    weights = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    sim = make_simulator(Connectome(weights, lengths, ("s", "m", "t"), None), model=relay, dt=DT, duration_ms=5.0,
                         transient_ms=0.0, fs=10000.0, method="euler", dtype=jnp.float64)
    params = Relay()
    from nffit.delays import compute_delays

    delays = compute_delays(weights, lengths, jnp.asarray(1.0), DT, sim.buffer_length - 1, dtype=jnp.float64)
    assert delays.source[1, 0] == 0 and delays.lag[1, 0] == 7 and delays.source[2, 0] == 1 and delays.lag[2, 0] == 19
    state = sim.init(params, delays, RelayState(jnp.zeros((3, 1))))
    inputs = []
    for t in range(40):
        z = jnp.zeros((1, 3, 1)).at[0, 0, 0].set(1.0 if t == 0 else 0.0)  # impulse into region s at step 1
        state = sim.step(state, z, params, delays)
        inputs.append(np.asarray(state.coupling[:, 0]))
    inputs = np.array(inputs)  # inputs[k] = c(k + 1)
    arrivals = [np.flatnonzero(inputs[:, i]) + 1 for i in range(3)]
    assert arrivals[1].tolist() == [1 + 7]  # y_s(1) = 1 reaches m at step 1 + 7
    assert arrivals[2].tolist() == [1 + 7 + 1 + 19]  # y_m(9) = 1 reaches t 19 steps later


def test_default_parameters_give_an_alpha_peak(tvb76):
    sim = make_simulator(tvb76, duration_ms=8000.0, transient_ms=1000.0, fs=250.0)
    out = sim.run(jax.random.key(0), batch_size=2)
    assert bool(out.finite.all())
    freqs, psd = scipy.signal.welch(np.asarray(out.lfp), fs=sim.fs, nperseg=500, axis=1)
    mean_psd = psd.mean(axis=(0, 2))
    band = freqs >= 2.0
    peak = freqs[band][np.argmax(mean_psd[band])]
    assert 8.0 <= peak <= 12.0, peak


def test_gradient_matches_central_differences(three_nodes):
    sim = make_simulator(three_nodes, dt=0.1, duration_ms=300.0, transient_ms=100.0, fs=500.0, dtype=jnp.float64,
                         interpolate_delays=True, checkpoint_samples=20)
    key = jax.random.key(4)
    names = ("G", "mu", "sigma", "speed", "A")

    def loss(theta):
        p = JansenRitParams(**dict(zip(names, theta)))
        lfp = sim.run(key, p).lfp
        return jnp.mean((lfp - lfp.mean()) ** 2)

    theta = jnp.array([2.0, 0.12, 0.1, 2.5, 3.25])
    grad = jax.grad(loss)(theta)
    eps = 1e-5
    for k in range(len(names)):
        e = jnp.zeros_like(theta).at[k].set(eps * theta[k])
        fd = (loss(theta + e) - loss(theta - e)) / (2 * eps * theta[k])
        np.testing.assert_allclose(float(grad[k]), float(fd), rtol=2e-4, atol=1e-9, err_msg=names[k])


def test_blow_ups_and_slow_speeds_are_flagged_not_crashed(three_nodes):
    sim = make_simulator(three_nodes, duration_ms=100.0, transient_ms=0.0, min_speed=2.0)
    out = sim.run(jax.random.key(0), JansenRitParams(a=jnp.array([0.1, -2.0, 0.1]), speed=jnp.array([3.0, 3.0, 1.0])))
    assert out.finite.tolist() == [True, False, False]
    assert np.all(np.isfinite(np.asarray(out.lfp[0])))


def test_interpolated_delays_reduce_to_integer_lags(three_nodes):
    # at a speed where every lag is a whole number of steps, interpolation changes nothing
    lengths = np.array([[0.0, 1.2, 3.0], [1.2, 0.0, 2.4], [3.0, 2.4, 0.6]])
    conn = three_nodes._replace(lengths=lengths)
    kwargs = dict(dt=0.1, duration_ms=60.0, transient_ms=0.0, dtype=jnp.float64)  # lags 2.4 ... 12 ms: whole steps of 0.1 ms
    p = JansenRitParams(speed=0.25, G=4.0)
    a = make_simulator(conn, interpolate_delays=True, min_speed=0.2, **kwargs).run(jax.random.key(1), p)
    b = make_simulator(conn, interpolate_delays=False, min_speed=0.2, **kwargs).run(jax.random.key(1), p)
    np.testing.assert_allclose(np.asarray(a.lfp), np.asarray(b.lfp), rtol=1e-10, atol=1e-12)


def test_no_delay_path_equals_one_step_lags(three_nodes):
    kwargs = dict(duration_ms=40.0, transient_ms=0.0, dtype=jnp.float64)
    zero = three_nodes._replace(lengths=np.zeros((3, 3)))
    a = make_simulator(zero, **kwargs).run(jax.random.key(8), JansenRitParams(G=5.0))
    b = make_simulator(three_nodes, delays=False, **kwargs).run(jax.random.key(8), JansenRitParams(G=5.0))
    np.testing.assert_allclose(np.asarray(a.lfp), np.asarray(b.lfp), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(duration_ms=-1.0), "duration_ms must be a positive number"),
        (dict(dt=float("nan")), "dt must be a positive number"),
        (dict(transient_ms=-5.0), "transient_ms must be a number >= 0"),
        (dict(fs=300.0, dt=1.0), "whole number"),
        (dict(method="rk5"), "unknown integration method"),
        (dict(coupling_layout="csr"), "coupling_layout must be"),
        (dict(duration_ms=1.0, fs=250.0), "shorter than one output sample"),
    ],
)
def test_bad_simulator_settings(three_nodes, kwargs, message):
    with pytest.raises(NffitError, match=message):
        make_simulator(three_nodes, **kwargs)


def test_bad_parameters(three_nodes):
    sim = make_simulator(three_nodes, duration_ms=10.0, transient_ms=0.0)
    with pytest.raises(NffitError, match="unknown parameter.*valid: A, B"):
        sim.run(jax.random.key(0), {"GG": 1.0})
    with pytest.raises(NffitError, match="disagree on the batch size"):
        sim.run(jax.random.key(0), {"G": jnp.ones(2), "mu": jnp.ones(3)})
    with pytest.raises(NffitError, match="speed has shape"):
        sim.run(jax.random.key(0), {"speed": jnp.ones((3, 2))})
    with pytest.raises(NffitError, match="ambiguous"):
        sim.run(jax.random.key(0), {"G": jnp.ones(2)}, batch_size=4)
    with pytest.raises(NffitError, match="first_sample has shape"):
        sim.run(jax.random.key(0), {"G": jnp.ones(2)}, first_sample=[0, 5, 10])


@pytest.mark.parametrize("delays", [True, False])
def test_dense_and_gather_layouts_agree(three_nodes, delays):
    # three_nodes has zero weights: the gather list pads region b's single input, dense reads all 9 pairs
    conn = three_nodes
    kwargs = dict(dt=0.1, duration_ms=50.0, transient_ms=0.0, fs=500.0, delays=delays, dtype=jnp.float64)
    p = JansenRitParams(speed=jnp.array([1.5, 4.0]), G=jnp.array([3.0, 6.0]))
    a = make_simulator(conn, coupling_layout="dense", **kwargs).run(jax.random.key(4), p)
    b = make_simulator(conn, coupling_layout="gather", **kwargs).run(jax.random.key(4), p)
    np.testing.assert_allclose(np.asarray(a.lfp), np.asarray(b.lfp), rtol=1e-10, atol=1e-12)
