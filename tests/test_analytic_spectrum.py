"""The analytic spectrum against independent references: a 6 x 6 NumPy linearisation of
one node, eigenvalues of the undelayed network's Jacobian, finite differences, and the
simulated Welch spectrum of the nonlinear delayed network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.signal

from nffit import Connectome, JansenRitParams, make_simulator
from nffit.analytic_spectrum import _lu_matvec, fixed_point, make_analytic_spectrum, node_unstable_modes
from nffit.inference import hessian
from nffit.models import JANSEN_RIT
from nffit.simulator import as_params
from reference_jr import DEFAULTS, jr_rhs, sigm

FREQS = np.arange(1.0, 45.0, 0.5)


def _numpy_jacobian(y, u, p):
    eps = 1e-6
    return np.array([(jr_rhs(y + eps * e, u, p) - jr_rhs(y - eps * e, u, p)) / (2 * eps) for e in np.eye(6)]).T


def _upper_fixed_point(mu, p):
    def f(v):
        y0 = p["A"] / p["a"] * sigm(v, p)
        y1 = p["A"] / p["a"] * (mu + p["a_2"] * p["J"] * sigm(p["a_1"] * p["J"] * y0, p))
        y2 = p["B"] / p["b"] * p["a_4"] * p["J"] * sigm(p["a_3"] * p["J"] * y0, p)
        return v - (y1 - y2)
    grid = np.linspace(-80, 60, 14001)
    values = f(grid)
    i = np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:]))[-1]
    v = scipy.optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-13)
    y0 = p["A"] / p["a"] * sigm(v, p)
    y1 = p["A"] / p["a"] * (mu + p["a_2"] * p["J"] * sigm(p["a_1"] * p["J"] * y0, p))
    return v, np.array([y0, y1, y1 - v, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("mu, sigma", [(0.6, 0.02), (0.8, 0.1)])
def test_single_node_matches_numpy_linearisation(mu, sigma):
    node = Connectome(np.zeros((1, 1)), np.zeros((1, 1)), ("x",), None)
    spectrum = make_analytic_spectrum(node, FREQS, dtype=jnp.float64)
    out = spectrum(JansenRitParams(mu=mu, sigma=sigma))
    p = dict(DEFAULTS, mu=mu, sigma=sigma)
    v, y = _upper_fixed_point(mu, p)
    np.testing.assert_allclose(float(out.fixed_point.lfp[0, 0]), v, rtol=1e-9)
    jac = _numpy_jacobian(y, mu, p)
    b = np.zeros(6)
    b[4] = p["A"] * p["a"]  # the input u enters y4'
    c = np.array([0, 1, -1, 0, 0, 0])
    h = np.array([c @ np.linalg.solve(2j * np.pi * f / 1000 * np.eye(6) - jac, b) for f in FREQS])
    expected = 2.0 / 1000.0 * sigma**2 * np.abs(h) ** 2  # one-sided, per Hz
    assert bool(out.valid[0]) and np.all(np.linalg.eigvals(jac).real < 0)
    np.testing.assert_allclose(np.asarray(out.psd[0, 0]), expected, rtol=1e-6)


def _network_jacobian_eigs(conn, p, v):
    n = conn.n_regions
    y0 = p["A"] / p["a"] * sigm(v, p)
    u = p["mu"] + p["G"] * conn.weights @ sigm(v, p)
    y1 = p["A"] / p["a"] * (u + p["a_2"] * p["J"] * sigm(p["a_1"] * p["J"] * y0, p))
    state = np.concatenate([y0, y1, y1 - v, np.zeros(3 * n)])

    def f(flat):
        y = flat.reshape(6, n)
        return jr_rhs(y, p["mu"] + p["G"] * conn.weights @ sigm(y[1] - y[2], p), p).ravel()

    assert np.abs(f(state)).max() < 1e-8  # the fixed point is one of the reference equations too
    eps = 1e-6
    jac = np.array([(f(state + eps * e) - f(state - eps * e)) / (2 * eps) for e in np.eye(6 * n)]).T
    return np.linalg.eigvals(jac)


def test_node_mode_count_matches_numpy_eigenvalues():
    rng = np.random.default_rng(1)
    v = rng.uniform(-10.0, 15.0, (40, 1))  # any state: the count is of the Jacobian there
    mu = rng.uniform(0.0, 1.0, (40, 1))
    coupling = rng.uniform(0.0, 0.2, (40, 1))
    count = np.asarray(node_unstable_modes(JANSEN_RIT, jnp.asarray(v), jnp.asarray(coupling),
                                           JansenRitParams(mu=jnp.asarray(mu))))
    expected = []
    for vi, mi, ci in zip(v[:, 0], mu[:, 0], coupling[:, 0]):
        p = dict(DEFAULTS, mu=mi)
        u = mi + ci
        y0 = p["A"] / p["a"] * sigm(vi, p)
        y1 = p["A"] / p["a"] * (u + p["a_2"] * p["J"] * sigm(p["a_1"] * p["J"] * y0, p))
        y2 = p["B"] / p["b"] * p["a_4"] * p["J"] * sigm(p["a_3"] * p["J"] * y0, p)
        expected.append(np.sum(np.linalg.eigvals(_numpy_jacobian(np.array([y0, y1, y2, 0, 0, 0]), u, p)).real > 0))
    assert 0 < np.count_nonzero(expected) < len(expected)  # both kinds are in the sample
    np.testing.assert_array_equal(count[:, 0], expected)


@pytest.mark.parametrize("small_gain", [True, False])
@pytest.mark.parametrize("mu", [0.05, 0.3, 0.6, 0.75])
def test_stability_count_matches_undelayed_eigenvalues(mu, small_gain):
    weights = np.array([[0.0, 0.8, 0.3], [0.5, 0.0, 0.9], [0.2, 0.6, 0.0]])
    conn = Connectome(weights, np.zeros((3, 3)), ("a", "b", "c"), None)
    out = make_analytic_spectrum(conn, FREQS, dtype=jnp.float64, stability_df=0.25,
                                 small_gain=small_gain)(JansenRitParams(mu=mu, G=2.0))
    eigs = _network_jacobian_eigs(conn, dict(DEFAULTS, mu=mu, G=2.0), np.asarray(out.fixed_point.lfp[:, 0]))
    assert round(float(out.n_unstable[0])) == int(np.sum(eigs.real > 0))
    assert bool(out.valid[0]) == bool(np.all(eigs.real < 0))


def test_batched_parameters_and_gradient():
    conn = Connectome(np.array([[0.0, 1.0], [0.7, 0.0]]), np.array([[0.0, 25.0], [25.0, 0.0]]), ("a", "b"), None)
    spectrum = make_analytic_spectrum(conn, FREQS, dtype=jnp.float64)
    batched = spectrum(JansenRitParams(mu=jnp.array([0.6, 0.7, 0.3]), G=jnp.array([1.0, 2.0, 1.0])))
    assert batched.valid.tolist() == [True, True, False]
    single = spectrum(JansenRitParams(mu=0.7, G=2.0))
    np.testing.assert_allclose(np.asarray(batched.psd[1]), np.asarray(single.psd[0]), rtol=1e-12)

    names = ("G", "mu", "speed", "sigma", "A", "b")
    theta = jnp.array([1.5, 0.65, 4.0, 0.05, 3.25, 0.05])

    def loss(t):
        psd = spectrum(JansenRitParams(**dict(zip(names, t)))).psd
        return jnp.sum(jnp.log(psd) * jnp.linspace(0.0, 1.0, FREQS.size))

    grad = jax.grad(loss)(theta)
    for k, name in enumerate(names):
        e = jnp.zeros_like(theta).at[k].set(1e-6 * theta[k])
        fd = (loss(theta + e) - loss(theta - e)) / (2e-6 * theta[k])
        np.testing.assert_allclose(float(grad[k]), float(fd), rtol=1e-5, atol=1e-8, err_msg=name)


def test_gradient_with_gain_sparse_weights_and_self_connection():
    """The sensor PSD's gradient (a gain, a zero weight, a self-connection, non-symmetric
    lengths, a batch of two) against central finite differences."""
    weights = np.array([[0.3, 1.0, 0.0], [0.7, 0.0, 0.4], [0.0, 0.9, 0.0]])
    lengths = np.array([[5.0, 25.0, 60.0], [35.0, 0.0, 40.0], [60.0, 20.0, 0.0]])  # not symmetric
    conn = Connectome(weights, lengths, ("a", "b", "c"), None)
    gain = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.1]])
    spectrum = make_analytic_spectrum(conn, FREQS, gain=gain, dtype=jnp.float64)
    names = ("G", "mu", "speed", "sigma")
    theta = jnp.array([[1.2, 0.65, 3.0, 0.05], [0.8, 0.7, 6.0, 0.07]])
    weight = jnp.linspace(0.0, 1.0, FREQS.size)

    def loss(t):
        out = spectrum(JansenRitParams(**{n: t[:, k] for k, n in enumerate(names)}))
        assert out.psd.shape == (2, 2, FREQS.size)
        return jnp.sum(jnp.log(out.psd) * weight)

    assert bool(spectrum(JansenRitParams(**{n: theta[:, k] for k, n in enumerate(names)})).valid.all())
    grad = jax.grad(loss)(theta)
    for b in range(2):
        for k, name in enumerate(names):
            e = jnp.zeros_like(theta).at[b, k].set(1e-6 * theta[b, k])
            fd = (loss(theta + e) - loss(theta - e)) / (2e-6 * theta[b, k])
            np.testing.assert_allclose(float(grad[b, k]), float(fd), rtol=1e-5, atol=1e-8, err_msg=f"{name}[{b}]")


def _second_differences(f, theta, relative_step=1e-3):
    """Hessian of a scalar function from its values: four-point central differences."""
    steps = relative_step * np.asarray(theta)
    shift = [jnp.asarray(e * h) for e, h in zip(np.eye(theta.size), steps)]
    return np.array([[float(f(theta + si + sj) - f(theta + si - sj) - f(theta - si + sj) + f(theta - si - sj))
                      / (4 * hi * hj) for sj, hj in zip(shift, steps)] for si, hi in zip(shift, steps)])


def test_lu_matvec_rebuilds_the_factored_matrix():
    """The split CPU's transposable solve names its linear map by the LU factors
    (``_lu_matvec``): it must be ``A x`` (a batch of complex matrices, pivoting needed)."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3, 5, 5)) + 1j * rng.normal(size=(2, 3, 5, 5))
    x = rng.normal(size=(2, 3, 5, 2)) + 1j * rng.normal(size=(2, 3, 5, 2))
    lu, pivots = jax.scipy.linalg.lu_factor(jnp.asarray(a))
    assert np.any(np.asarray(pivots) != np.arange(5))
    np.testing.assert_allclose(np.asarray(_lu_matvec(lu, pivots, jnp.asarray(x))), a @ x, rtol=1e-10)


def test_fixed_point_carries_exact_second_derivatives():
    """Forward-over-reverse second derivatives of the network fixed point in (G, mu, A)
    against second differences of its values (float64): the two final Newton steps carry
    them (one step carries the first derivative only)."""
    weights = jnp.array([[0.0, 1.0], [0.7, 0.0]])
    names = ("G", "mu", "A")
    theta = jnp.array([1.5, 0.65, 3.25])

    def lfp(t):
        params = as_params(JansenRitParams(**dict(zip(names, t))), JANSEN_RIT, jnp.float64)
        return jnp.sum(fixed_point(JANSEN_RIT, weights, params, 1).lfp * jnp.array([[1.0], [0.3]]))

    np.testing.assert_allclose(np.asarray(jax.hessian(lfp)(theta)), _second_differences(jax.jit(lfp), theta),
                               rtol=1e-3, atol=1e-6)


def test_hessian_by_differences_matches_second_differences_of_the_value():
    """nffit.inference.hessian (differences of the spectrum's hand-written gradient, which
    carries the fixed point's exact derivatives) against second differences of the value of a
    spectrum loss, float64."""
    conn = Connectome(np.array([[0.0, 1.0], [0.7, 0.0]]), np.array([[0.0, 25.0], [25.0, 0.0]]), ("a", "b"), None)
    spectrum = make_analytic_spectrum(conn, FREQS, dtype=jnp.float64)
    names = ("G", "mu", "speed")
    theta = jnp.array([1.5, 0.65, 4.0])

    @jax.jit
    def loss(t):
        psd = spectrum(JansenRitParams(**dict(zip(names, t)))).psd
        return jnp.sum(jnp.log(psd) * jnp.linspace(0.0, 1.0, FREQS.size))

    reference = _second_differences(loss, theta)
    scale = np.sqrt(np.outer(np.abs(np.diag(reference)), np.abs(np.diag(reference))))
    np.testing.assert_allclose(np.asarray(hessian(loss, theta)) / scale, reference / scale, atol=1e-4)


def _compare_with_simulation(conn, params, batch, duration_ms):
    fs, nperseg = 250.0, 1000
    sim = make_simulator(conn, duration_ms=duration_ms, transient_ms=2000.0, fs=fs)
    out = sim.run(jax.random.key(0), params, batch_size=batch)
    assert bool(out.finite.all())
    freqs, psd = scipy.signal.welch(np.asarray(out.lfp), fs=fs, nperseg=nperseg, axis=1)
    simulated = psd.mean(axis=0).T  # (N, F), averaged over the batch
    band = (freqs >= 2.0) & (freqs <= 40.0)
    analytic = make_analytic_spectrum(conn, freqs[band])(params)
    assert bool(analytic.valid[0])
    # the simulator's output is a block average of `decimation` steps: a boxcar filter
    m, dt = sim.decimation, sim.dt / 1000.0
    f = freqs[band]
    boxcar = (np.sin(np.pi * f * m * dt) / (m * np.sin(np.pi * f * dt))) ** 2
    ratio = np.log10(simulated[:, band] / (np.asarray(analytic.psd[0]) * boxcar))
    return np.sqrt(np.mean(ratio**2))


def test_two_node_delayed_network_matches_simulation():
    conn = Connectome(np.array([[0.0, 1.0], [0.6, 0.0]]), np.array([[0.0, 30.0], [30.0, 0.0]]), ("a", "b"), None)
    rms = _compare_with_simulation(conn, JansenRitParams(mu=0.7, G=0.5, sigma=0.01), batch=32, duration_ms=40_000.0)
    assert rms <= 0.05, rms


def test_76_region_network_matches_simulation(tvb76):
    rms = _compare_with_simulation(tvb76, JansenRitParams(mu=0.65, G=1.0, sigma=0.01), batch=32, duration_ms=16_000.0)
    assert rms <= 0.05, rms


def test_small_gain_shortcut_and_vmap_agree_with_the_full_count(tvb76):
    """On tvb76 over the prior's range (float32, as in fits): the shortcut never changes the
    verdict, and ``jax.vmap`` over single parameter sets (numpyro's vectorised chains) gives
    the natively batched result."""
    rng = np.random.default_rng(3)
    params = JansenRitParams(G=jnp.asarray(rng.uniform(0.0, 4.0, 12)), mu=jnp.asarray(rng.uniform(0.3, 1.0, 12)),
                             speed=jnp.asarray(rng.uniform(1.0, 20.0, 12)))
    freqs = np.arange(2.0, 41.0, 2.0)
    fast = make_analytic_spectrum(tvb76, freqs, dtype=jnp.float32)
    full = make_analytic_spectrum(tvb76, freqs, dtype=jnp.float32, small_gain=False)
    a, b = fast(params), full(params)
    assert 0 < int(np.sum(a.valid)) < 12  # both verdicts are in the sample
    np.testing.assert_array_equal(np.asarray(a.valid), np.asarray(b.valid))
    np.testing.assert_allclose(np.asarray(a.n_unstable), np.asarray(b.n_unstable), atol=0.25)
    mapped = jax.vmap(fast)(jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (12,)), params))
    np.testing.assert_array_equal(np.asarray(mapped.valid[:, 0]), np.asarray(a.valid))
    np.testing.assert_allclose(np.asarray(mapped.psd[:, 0]), np.asarray(a.psd), rtol=1e-4)


def test_only_the_failing_entries_get_the_full_count(tvb76):
    """Two of 16 entries near the node's Hopf point fail the small-gain bound: their network
    factor is counted on its own (gathered), and agrees with the count over the full batch."""
    mu = jnp.asarray([0.7] * 7 + [0.5] + [0.8] * 7 + [0.49])  # entries 7 and 15: Perron bound 1.3 and 1.7
    G = jnp.asarray([0.5] * 7 + [4.0] + [1.0] * 7 + [3.5])
    params = JansenRitParams(mu=mu, G=G)
    freqs = np.arange(2.0, 41.0, 4.0)
    fast = make_analytic_spectrum(tvb76, freqs)(params)
    full = make_analytic_spectrum(tvb76, freqs, small_gain=False)(params)
    np.testing.assert_array_equal(np.asarray(fast.valid), np.asarray(full.valid))
    np.testing.assert_allclose(np.asarray(fast.n_unstable), np.asarray(full.n_unstable), atol=1e-3)
