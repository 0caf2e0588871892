r"""Several recordings fitted at once with partially pooled parameters (a numpyro model).

For each pooled free parameter ``theta`` with prior ``p`` and the bijection ``b`` from the
real line onto the prior's support (logit for a Uniform, exp for a positive one, identity
for a Normal), non-centred:

.. math::
    \bar\theta \sim p, \qquad s \sim \mathrm{HalfNormal}(s_0), \qquad
    z_r \sim N(0, 1), \qquad \theta_r = b\left(b^{-1}(\bar\theta) + s\, z_r\right),
    \quad r = 1 \dots R

so ``theta_group`` (the site ``{name}_group``) is the median recording's value, ``s`` (the
site ``{name}_spread``) the spread between recordings in the unconstrained space (``s_0 =
spread_scale``, 0.5 by default: in logit units for a Uniform prior, decades for a Normal prior
of a log10 value), and ``theta`` (deterministic, shape (R,)) each recording's value. Free
parameters that are not pooled are shared: one value for every recording. Each recording's
spectrum is one batch entry: a log-density evaluation is one spectrum call of batch R.

Non-centred suits parameters that the recordings determine weakly (short recordings, few
ordinates): the deviations ``z_r`` are then nearly independent of the group level. A
parameter that every recording determines well (the gain scale of a long recording, often
``mu``) makes the non-centred posterior a curved ridge in (spread, z) with long NUTS
trajectories and divergences; list it in ``centred`` to sample ``u_r = b^{-1}(theta_r) ~
N(b^{-1}(theta_group), s)`` (site ``{name}_u``) instead: the same model, another
parametrisation.

The recordings must share channels and frequencies (the same ``picks``, band and Welch
settings); their degrees of freedom may differ.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from nffit.eeg import ObservedSpectrum
from nffit.errors import NffitError
from nffit.inference import FitProblem, make_problem
from nffit.log_density import LogDensity, model_psd_batch, numpyro_log_density

__all__ = ["GroupProblem", "make_group_problem", "group_parameters", "hierarchical_model"]


class GroupProblem(NamedTuple):
    """A hierarchical fit of R recordings.

    Attributes
    ----------
    base : FitProblem, the shared spectrum, priors (of the group values), fixed values and
        likelihood; its ``observed`` is the recordings' geometric mean (it centres the priors)
    observed : ndarray (R, C, F), the recordings' spectra
    dof : ndarray (R, 1, 1), their degrees of freedom (broadcastable to ``observed``)
    recordings : tuple of R names
    pooled : tuple of the free parameters with one value per recording (others are shared)
    spread_scale : float, scale of the HalfNormal prior of every spread
    centred : tuple of pooled parameters sampled centred (see the module docstring)
    """

    base: FitProblem
    observed: np.ndarray
    dof: np.ndarray
    recordings: tuple[str, ...]
    pooled: tuple[str, ...]
    spread_scale: float = 0.5
    centred: tuple[str, ...] = ()

    # what samplers and checkpoints read from a problem
    @property
    def freqs(self) -> np.ndarray:
        return self.base.freqs

    @property
    def channels(self) -> tuple[str, ...]:
        return self.base.channels

    @property
    def priors(self) -> dict:
        """Priors of the group values and shared parameters, and of the spreads."""
        spreads = {f"{n}_spread": dist.HalfNormal(self.spread_scale) for n in self.pooled}
        return {**self.base.priors, **spreads}

    @property
    def fixed(self) -> dict:
        return self.base.fixed

    @property
    def path(self) -> str:
        return self.base.path

    @property
    def likelihood(self) -> str:
        return self.base.likelihood

    @property
    def lognormal_sd(self) -> float:
        return self.base.lognormal_sd

    def log_density(self) -> LogDensity:
        """The :class:`~nffit.log_density.LogDensity` of :func:`hierarchical_model`."""
        return numpyro_log_density(hierarchical_model, group_parameters, self)


def make_group_problem(observed: Sequence[ObservedSpectrum], *, recordings: Sequence[str] | None = None,
                       pooled: Sequence[str] | None = None, spread_scale: float = 0.5, centred: Sequence[str] = (),
                       **options: Any) -> GroupProblem:
    """Set up a hierarchical fit of several recordings' spectra.

    Parameters
    ----------
    observed : R >= 2 ObservedSpectrum with the same channels and frequencies
    recordings : names of the recordings (default ``rec0``, ``rec1``, ...)
    pooled : free parameters with per-recording values (default: every free parameter);
        the others are shared by all recordings
    spread_scale : float > 0, HalfNormal scale of the spreads (unconstrained units)
    centred : pooled parameters to sample centred, for parameters that each recording
        determines well (see the module docstring); default none
    **options : as :func:`nffit.inference.make_problem` (model, free, priors, fixed,
        likelihood, bin_stride, ...); the analytic path only

    Examples
    --------
    >>> import numpy as np
    >>> from nffit.eeg import ObservedSpectrum
    >>> freqs = np.arange(2.0, 30.0)
    >>> spectra = [ObservedSpectrum(freqs, np.ones((1, freqs.size)) / freqs ** k, ("Oz",), 160.0, 30, 60.0,
    ...                             320, 160, "hann", {}) for k in (1.0, 1.2)]
    >>> group = make_group_problem(spectra, model="peaks", pooled=["exponent"])
    >>> group.observed.shape, group.pooled
    ((2, 1, 14), ('exponent',))
    """
    observed = list(observed)
    if len(observed) < 2:
        raise NffitError("a hierarchical fit needs at least two recordings; give several inputs")
    recordings = tuple(recordings or (f"rec{i}" for i in range(len(observed))))
    if len(recordings) != len(observed) or len(set(recordings)) != len(recordings):
        raise NffitError("give one distinct name per recording (from the command line: distinct file names)")
    first = observed[0]
    for name, spec in zip(recordings[1:], observed[1:]):
        if tuple(spec.channels) != tuple(first.channels) or not np.array_equal(spec.freqs, first.freqs):
            raise NffitError(f"recording {name} has other channels or frequencies than {recordings[0]}; "
                             "use the same picks, band and segment length for every recording")
    if options.get("path", "analytic") != "analytic":
        raise NffitError("hierarchical fits use the analytic spectrum (NUTS); drop path = 'simulated'")
    if not spread_scale > 0:
        raise NffitError(f"spread_scale must be > 0, got {spread_scale}")
    stack = np.stack([spec.psd for spec in observed])
    base = make_problem(first._replace(psd=np.exp(np.log(stack).mean(axis=0))), **options)
    pooled = tuple(base.priors) if pooled is None else tuple(pooled)
    unknown = sorted(set(pooled) - set(base.priors))
    if unknown:
        raise NffitError(f"pooled parameter(s) {', '.join(unknown)} are not free; free: {', '.join(base.priors)}")
    if not set(centred) <= set(pooled):
        raise NffitError(f"centred parameter(s) {', '.join(sorted(set(centred) - set(pooled)))} are not pooled")
    keep = np.isin(first.freqs, base.freqs)
    dof = np.array([spec.dof for spec in observed], float)[:, None, None]
    return GroupProblem(base, stack[:, :, keep], dof, recordings, pooled, float(spread_scale), tuple(centred))


def group_parameters(group: GroupProblem) -> dict:
    """The parameter part of :func:`hierarchical_model`: samples the group values, spreads and
    standardised deviations (or centred values); returns name -> value, (R,) for pooled parameters and a scalar
    for shared ones (each pooled one also recorded as a deterministic site)."""
    values, spreads = {}, group.priors  # the spreads' priors are defined once, in GroupProblem.priors
    for name, prior in group.base.priors.items():
        if name not in group.pooled:
            values[name] = numpyro.sample(name, prior)
            continue
        to_support = dist.biject_to(prior.support)
        centre = numpyro.sample(f"{name}_group", prior)
        spread = numpyro.sample(f"{name}_spread", spreads[f"{name}_spread"])
        with numpyro.plate("recording", len(group.recordings)):
            if name in group.centred:  # the unconstrained values themselves
                u = numpyro.sample(f"{name}_u", dist.Normal(to_support.inv(centre), spread))
            else:
                u = to_support.inv(centre) + spread * numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
        values[name] = numpyro.deterministic(name, to_support(u))
    return values


def hierarchical_model(group: GroupProblem) -> None:
    """numpyro model: :func:`group_parameters` -> every recording's spectrum in one batched call
    -> the fit's likelihood (Whittle/Gamma with each recording's dof, or log-normal).

    Observed site ``psd`` (or ``log10_psd``), shape (R, C, F); deterministic ``model_psd``
    (R, C, F); a -inf factor where any recording's parameters are invalid.
    """
    values = group_parameters(group)
    psd, ok = model_psd_batch(group.base, values)
    numpyro.deterministic("model_psd", psd)
    numpyro.factor("valid", jnp.where(jnp.all(ok), 0.0, -jnp.inf))
    observed = jnp.asarray(group.observed, psd.dtype)
    if group.base.likelihood == "whittle":
        half = jnp.asarray(0.5 * group.dof, psd.dtype)
        numpyro.sample("psd", dist.Gamma(half, half / psd), obs=observed)
    else:
        numpyro.sample("log10_psd", dist.Normal(jnp.log10(psd), group.base.lognormal_sd), obs=jnp.log10(observed))
