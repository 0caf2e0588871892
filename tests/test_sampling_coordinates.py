"""NUTS's sampling coordinates (nffit.sampling_coordinates) on a two-parameter toy whose posterior presses
against a bound, as G's does on EEG: a coupling-like g in (0, 4) with a half-normal
likelihood (density non-zero at 0) and m on a straight ridge m = 1 - 0.5 g. References: the
normaliser of the original density by quadrature, the ridge's slope, and the exact marginal
of g by scipy quadrature."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.integrate
import scipy.stats
from jax.tree_util import Partial

from nffit.log_density import LogDensity
from nffit.nuts import nuts_draws, nuts_warmup
from nffit.sampling_coordinates import from_sampling, laplace_coordinates, sampling_covariance, to_sampling

PRIORS = {"g": dist.Uniform(0.0, 4.0), "m": dist.Normal(0.0, 3.0)}
SLOPE, WIDTH, G_SCALE = -0.5, 0.05, 0.5
FLOAT = jnp.result_type(float)  # float64 in the tests (conftest)


def _toy() -> LogDensity:
    names = tuple(PRIORS)
    bijectors = [dist.biject_to(PRIORS[n].support) for n in names]

    def constrain(x):
        return {n: b(x[i]) for i, (n, b) in enumerate(zip(names, bijectors))}

    def unconstrain(values):
        return jnp.stack([b.inv(jnp.asarray(values[n], FLOAT)) for n, b in zip(names, bijectors)])

    def logprior(x):
        y = constrain(x)
        return sum(PRIORS[n].log_prob(y[n]) + b.log_abs_det_jacobian(x[i], y[n]) for i, (n, b) in enumerate(zip(names, bijectors)))

    def loglik(x):
        y = constrain(x)
        return -0.5 * (y["g"] / G_SCALE) ** 2 - 0.5 * ((y["m"] - 1.0 - SLOPE * y["g"]) / WIDTH) ** 2

    return LogDensity(names, logprior, loglik, constrain, unconstrain, lambda key: jnp.zeros(2))


def _g_density(g):
    """The exact (unnormalised) marginal of g: the m integral in closed form."""
    return np.exp(-0.5 * (g / G_SCALE) ** 2) * scipy.stats.norm.pdf(1.0 + SLOPE * g, 0.0, np.hypot(3.0, WIDTH))


@pytest.fixture(scope="module")
def toy():
    density = _toy()
    mode = jnp.asarray([jnp.log(0.3 / 3.7), 0.85])
    for _ in range(50):  # Newton to the unconstrained mode
        mode = mode - jnp.linalg.solve(jax.hessian(density.logdensity)(mode), jax.grad(density.logdensity)(mode))
    covariance = np.linalg.inv(-np.asarray(jax.hessian(density.logdensity)(mode), float))
    coords = laplace_coordinates(density, np.asarray(mode), covariance, ["g"], {"g": (0.0, 4.0)})
    return density, coords, np.asarray(mode), covariance


def test_coordinates_round_trip_and_reflect(toy):
    density, coords, _, _ = toy
    assert bool(coords.source[0]) and not bool(coords.source[1])
    # the ridge m = 1 - 0.5 g has slope -0.5 in the constrained space (the broad prior on m
    # tilts it by WIDTH^2 / 3^2)
    assert abs(float(coords.shear[1, 0]) - SLOPE) < 0.02
    x = jnp.asarray([[-3.0, 0.9], [-1.0, 0.7], [0.5, 0.2]])
    p = jax.vmap(lambda y: to_sampling(density, coords, y))(x)
    np.testing.assert_allclose(jax.vmap(lambda q: from_sampling(density, coords, q))(p), x, rtol=1e-5, atol=1e-5)
    mirrored = p.at[:, 0].set(-p[:, 0])  # reflected at the bound 0: the same position
    np.testing.assert_allclose(jax.vmap(lambda q: from_sampling(density, coords, q))(mirrored), x, rtol=1e-5, atol=1e-5)


def test_sampling_density_has_twice_the_normaliser(toy):
    """Reflection is two-to-one and the shear has unit Jacobian: over p the density integrates
    to twice its integral over the unconstrained x (both by quadrature on grids)."""
    density, coords, _, _ = toy
    f = jax.jit(jax.vmap(density.logdensity))
    h = jax.jit(jax.vmap(lambda q: density.sampling_logdensity(coords, q)))

    def integral(fn, a, b):
        u, v = np.linspace(*a, 801), np.linspace(*b, 801)
        grid = jnp.asarray(np.stack(np.meshgrid(u, v, indexing="ij"), -1).reshape(-1, 2), FLOAT)
        values = np.exp(np.asarray(fn(grid), float)).reshape(u.size, v.size)
        values[~np.isfinite(values)] = 0.0
        return scipy.integrate.trapezoid(scipy.integrate.trapezoid(values, v, axis=1), u)

    over_x = integral(f, (-14.0, 1.0), (0.0, 1.4))
    # p_m = m + 0.5 g lies near 1 whatever g is: the sheared ridge is straight
    over_p = integral(h, (-2.5, 2.5), (0.75, 1.25))
    assert abs(over_p / (2 * over_x) - 1.0) < 0.01


def test_nuts_in_sampling_coordinates_gives_the_exact_marginal(toy):
    density, coords, mode, covariance = toy
    chains = 4
    x0 = jnp.asarray(mode, FLOAT) + jax.random.normal(jax.random.key(2), (chains, 2), FLOAT) @ jnp.asarray(
        np.linalg.cholesky(covariance).T, FLOAT)
    p0 = jax.vmap(lambda x: to_sampling(density, coords, x))(x0)
    mass = jnp.asarray(sampling_covariance(density, coords, mode, covariance), FLOAT)
    logdensity = Partial(density.sampling_logdensity, coords)
    state, step, inverse_mass = jax.jit(nuts_warmup, static_argnums=(3,))(logdensity, jax.random.key(0), p0, 200, mass)
    _, (positions, stats) = jax.jit(nuts_draws, static_argnames="length")(logdensity, jax.random.key(1), state, step,
                                                                          inverse_mass, 0, length=1000)
    g = np.asarray(jax.vmap(jax.vmap(lambda q: density.constrain(from_sampling(density, coords, q))["g"]))(positions))
    assert not np.asarray(stats[0]).any()  # no divergences
    norm = scipy.integrate.quad(_g_density, 0.0, 4.0)[0]
    cdf = np.vectorize(lambda v: scipy.integrate.quad(_g_density, 0.0, v)[0] / norm)
    thinned = g[::5].ravel()  # 800 draws, roughly independent
    assert scipy.stats.kstest(thinned, cdf).pvalue > 0.01
