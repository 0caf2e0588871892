"""Checkpoints of long runs: one ``.npz`` file, written atomically, with a fingerprint.

A run saves its arrays every few draws (or SMC steps); ``resume`` continues from the file
when its fingerprint (method, settings, data) matches, and refuses with a clear message when
it does not. Draws are keyed by their index (``fold_in(key, i)``), so a resumed run gives
the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nffit.errors import NffitError
from nffit.netcdf import write_atomically

__all__ = ["fingerprint", "run_fingerprint", "describe_distribution", "save_checkpoint", "load_checkpoint"]


def fingerprint(settings: Mapping[str, Any], *arrays: np.ndarray) -> str:
    """Hex digest of JSON ``settings`` and the bytes of ``arrays`` (e.g. the observed spectrum)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()[:16]


def run_fingerprint(problem, rng_key, settings: Mapping[str, Any]) -> str:
    """Fingerprint of a sampler run: its ``settings``, the seed, and what defines the problem
    (free parameters and priors, fixed values, spectrum path, data and frequencies)."""
    import jax

    return fingerprint({**settings, "key": np.asarray(jax.random.key_data(rng_key)).tolist(), "fixed": problem.fixed,
                        "path": problem.path, "priors": {n: describe_distribution(p) for n, p in problem.priors.items()}},
                       problem.observed, problem.freqs)


def describe_distribution(prior) -> str:
    """A numpyro distribution as text that is the same in every process: its class and
    arguments (``repr`` holds the object's address, so a resumed run would never match)."""
    arguments = {k: np.asarray(getattr(prior, k)).tolist() for k in sorted(prior.arg_constraints) if hasattr(prior, k)}
    base = getattr(prior, "base_dist", None)  # truncated, transformed: the distribution underneath
    return f"{type(prior).__name__}({json.dumps(arguments, sort_keys=True)}{', ' + describe_distribution(base) if base else ''})"


def save_checkpoint(path: str | Path, tag: str, arrays: Mapping[str, Any]) -> Path:
    """Write ``arrays`` (name -> array) and the fingerprint ``tag`` to ``path`` (.npz)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, fingerprint=np.asarray(tag), **{k: np.asarray(v) for k, v in arrays.items()})

    return write_atomically(path, write)


def load_checkpoint(path: str | Path, tag: str) -> dict[str, np.ndarray] | None:
    """The arrays of the checkpoint at ``path``; None if there is none.

    Raises NffitError if the file belongs to another run (other settings, data or seed).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise NffitError(f"{path}: not a readable checkpoint ({err}); delete it to start afresh") from None
    if str(arrays.pop("fingerprint", "")) != tag:
        raise NffitError(f"{path}: checkpoint of a different run (settings, data or seed differ); "
                         "delete it or run without --resume")
    return arrays
