"""Split a batch (chains, particles, windows, parameter sets) over all local devices.

One code path for one or many devices: :func:`shard_batch` places every array of a pytree
with its batch axis split over a 1-D device mesh named ``"batch"`` (replicated where the
batch does not divide evenly), and the jitted simulator, spectra and samplers run SPMD on
those placements: XLA partitions the computation along the batch, which needs no
communication because batch entries are independent (each has its own noise key). With one
device the placement is a no-op.

Test several devices on a CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``
(set before JAX starts). Several machines: call ``jax.distributed.initialize()`` on each
process first (docs/installation.md); ``jax.devices()`` then lists every process's devices
and the same mesh spans them.

Examples
--------
>>> import jax
>>> from nffit import load_connectome, make_simulator, JansenRitParams
>>> from nffit.sharding import shard_batch
>>> sim = make_simulator(load_connectome("tvb76"), duration_ms=200.0, transient_ms=0.0)
>>> keys = shard_batch(jax.random.split(jax.random.key(0), 4))
>>> sim.run(keys, JansenRitParams()).lfp.shape
(4, 50, 76)
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["batch_mesh", "shard_batch"]


def batch_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D mesh named ``"batch"`` over ``devices`` (default: every device JAX sees)."""
    return Mesh(np.asarray(list(devices or jax.devices())), ("batch",))


def shard_batch(tree: Any, axis: int = 0, devices: Sequence[Any] | None = None) -> Any:
    """Place each array of ``tree`` with axis ``axis`` split over the devices.

    Parameters
    ----------
    tree : pytree of arrays (PRNG key arrays included), e.g. keys (B,), parameters (B,) or
        (N, B) with ``axis=-1``, chain positions (chains, D)
    axis : int, the batch axis of every leaf
    devices : the devices to use (default all)

    Returns
    -------
    The same pytree on the devices. A leaf without that axis, or whose batch does not divide
    by the number of devices, is replicated.
    """
    mesh = batch_mesh(devices)
    n = mesh.devices.size

    def place(x):
        ndim = x.ndim if hasattr(x, "ndim") else np.ndim(x)
        if ndim == 0 or x.shape[axis] % n:
            return jax.device_put(x, NamedSharding(mesh, PartitionSpec()))
        spec = [None] * ndim
        spec[axis % ndim] = "batch"
        return jax.device_put(x, NamedSharding(mesh, PartitionSpec(*spec)))

    return jax.tree.map(place, tree)
