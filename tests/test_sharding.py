"""The batch split over two (fake CPU) devices gives the numbers of the unsharded run (to float32
rounding); NUTS chains split over them (``chain_method="parallel"`` or ``"vectorized"``) give
the sequential chains' draws, MAP starts split over them each start's optimum, SMC's
particles the one-device log-likelihoods; the analytic spectrum on both devices at once
(chains split, one after another or vmapped, or a sharded batch) gives the one-device numbers
and does not hang (jax 0.10 deadlocks when two CPU devices run batched LAPACK calls at once:
nffit makes them one matrix per call there, under ``jax.vmap`` too)."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert len(jax.devices()) == 2, jax.devices()
    from nffit import JansenRitParams, load_connectome, make_simulator
    from nffit.sharding import shard_batch

    sim = make_simulator(load_connectome("tvb76"), duration_ms=300.0, transient_ms=0.0, fs=250.0)
    keys = jax.random.split(jax.random.key(0), 4)
    params = JansenRitParams(G=np.array([0.5, 1.0, 1.5, 2.0], np.float32))
    plain = sim.run(keys, params).lfp
    sharded = sim.run(shard_batch(keys), shard_batch(params)).lfp
    assert len(sharded.sharding.device_set) == 2, sharded.sharding
    # float32 rounding only: XLA vectorises a per-device batch of 2 differently from one of 4
    np.testing.assert_allclose(np.asarray(plain), np.asarray(sharded), rtol=1e-4, atol=1e-4)

    # NUTS chains split over the devices: the sequential chains' draws (same per-chain keys)
    import jax.numpy as jnp
    from nffit.nuts import _draws, _over_chains, _warmup

    jax.config.update("jax_enable_x64", True)
    cov = np.array([[1.0, 0.6], [0.6, 0.5]])
    logdensity = jax.tree_util.Partial(lambda x: -0.5 * x @ jnp.asarray(np.linalg.inv(cov)) @ x)
    x0 = jax.random.normal(jax.random.key(1), (4, 2))
    runs = {}
    for method in ("sequential", "parallel", "vectorized"):
        state, step, mass = _warmup(logdensity, jax.random.key(2), x0, steps=50, chain_method=method)
        last, (positions, _) = _draws(logdensity, jax.random.key(3), state, step, mass, 0, length=100,
                                      chain_method=method)
        runs[method] = (np.asarray(step), np.asarray(positions))
        if method != "sequential":
            assert len(last.position.sharding.device_set) == 2, (method, last.position.sharding)
    for method in ("parallel", "vectorized"):
        for a, b in zip(runs["sequential"], runs[method]):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    jax.config.update("jax_enable_x64", False)

    # the analytic spectrum and its gradient on both devices at once, each device's chains one
    # after another or vmapped (as NUTS runs them; batched LAPACK calls on two CPU devices at
    # once hang jax 0.10): the one-device numbers
    from nffit import make_analytic_spectrum

    spectrum = make_analytic_spectrum(load_connectome("tvb76"), np.arange(2.0, 41.0),
                                      gain=np.random.default_rng(0).normal(size=(3, 76)))
    def value_and_grad(g):
        return jax.value_and_grad(lambda g: jnp.sum(jnp.log(spectrum(JansenRitParams(G=g, mu=0.6)).psd)))(g)
    # 8 per device: vmapped, they would reach LAPACK as batches of 8 (4 never hung, 8 did)
    gs = jnp.linspace(0.3, 2.1, 16, dtype=jnp.float32)
    one = np.array([jax.jit(value_and_grad)(g) for g in gs]).T
    for method in ("parallel", "vectorized"):
        split = jax.jit(lambda gs: _over_chains(value_and_grad, gs, method))(gs)
        np.testing.assert_allclose(np.asarray(split), one, rtol=2e-4, err_msg=method)
    # forward over reverse (jax.hessian) through the one-matrix LAPACK loops: jacfwd maps the
    # tangents alone (jax's sequential_vmap failed there); differences of gradients agree
    from nffit.inference import hessian
    small = make_analytic_spectrum(load_connectome("tvb76"), np.arange(8.0, 13.0))
    loss = lambda t: jnp.sum(jnp.log(small(JansenRitParams(G=t[0], mu=t[1])).psd))
    theta = jnp.array([0.9, 0.6])
    np.testing.assert_allclose(np.asarray(jax.jit(jax.hessian(loss))(theta)),
                               np.asarray(hessian(jax.jit(loss), theta)), rtol=0.05, atol=0.05)
    # and a batch of parameter sets sharded over the devices (SPMD)
    sharded = spectrum(shard_batch(JansenRitParams(G=gs, mu=0.6))).psd
    assert len(sharded.sharding.device_set) == 2, sharded.sharding
    np.testing.assert_allclose(np.asarray(sharded), np.asarray(spectrum(JansenRitParams(G=gs, mu=0.6)).psd), rtol=2e-4)

    # MAP starts split over the devices: each start's optimum as when run alone
    import optax
    from nffit.eeg import ObservedSpectrum
    from nffit.inference import fit_map, make_problem, minimise
    from nffit.log_density import make_log_density

    freqs = np.arange(2.0, 30.0)
    psd = np.stack([1.0 / freqs + np.exp(-0.5 * (freqs - 10.0) ** 2), 2.0 / freqs]) * 100.0
    problem = make_problem(ObservedSpectrum(freqs, psd, ("O1", "O2"), 160.0, 30, 60.0, 320, 160, "hann", {}),
                           model="peaks", bin_stride=1)
    result = fit_map(problem, jax.random.key(5), starts=4, steps=60, laplace_draws=10)
    density = make_log_density(problem)
    x0 = jax.vmap(density.sample_prior)(jax.random.split(jax.random.split(jax.random.key(5))[0], 4))
    alone = [float(jax.jit(lambda x: minimise(lambda y: -density.logdensity(y), x, optax.adam(0.05), 60))(x)[1])
             for x in x0]
    np.testing.assert_allclose(result.neg_log_density, alone, rtol=1e-5)
    # SMC's particles split over the devices: the one-device log-likelihoods
    from nffit.smc import _evaluate
    particles = jax.vmap(density.sample_prior)(jax.random.split(jax.random.key(6), 8))
    np.testing.assert_allclose(np.asarray(jax.jit(lambda p: _evaluate(density, p))(particles)[0]),
                               np.asarray(jax.vmap(density.loglik)(particles)), rtol=1e-5)
    from nffit.sharding import split_over_devices
    assert len(jax.jit(lambda a: split_over_devices(jax.vmap(jnp.sin), a))(x0).sharding.device_set) == 2

    print("ok")
""")


def test_two_devices_give_the_unsharded_numbers_and_draws():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_use_cpu_cores_after_jax_started_is_a_one_line_error():
    import jax

    from nffit.errors import NffitError
    from nffit.sharding import use_cpu_cores

    have = len(jax.devices("cpu"))  # JAX has started in this process
    assert use_cpu_cores(have) == have  # already in place: nothing to do
    with pytest.raises(NffitError, match=r"before JAX's first computation"):
        use_cpu_cores(have + 1)
