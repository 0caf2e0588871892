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

import os
from typing import Any, Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nffit.errors import NffitError

__all__ = ["available_cores", "batch_mesh", "chain_mesh", "shard_batch", "split_over_devices", "use_cpu_cores"]


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def use_cpu_cores(cores: int | None = None) -> int:
    """Split the CPU into ``cores`` JAX devices (default: every core this process may use), each
    running its operations on one thread, so that work split over devices (NUTS's chains with
    ``chain_method="parallel"`` or ``"vectorized"``) runs on all cores without contention.
    More devices than cores are fine: the OS shares the cores among their threads. For NUTS,
    one device per chain is fastest (no chain waits for another's trajectory; 4 chains on 2
    cores: 252 s against 290-300 s with one device per core, docs/benchmarks.md).

    Call it before JAX's first computation (right after the imports); later, it only checks
    that the split is already in place. On a GPU machine the GPUs stay the default devices.
    Returns the number of CPU devices.
    """
    cores = cores or available_cores()
    try:
        jax.config.update("jax_num_cpu_devices", cores)
        # each device's operations on one thread: no contention between the devices for the
        # shared intra-op pool (read when JAX starts its CPU backend)
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    except RuntimeError:  # JAX has started: the CPU devices are fixed
        have = len(jax.devices("cpu"))
        if have != cores:
            raise NffitError(f"JAX already runs with {have} CPU device(s); call nffit.sharding.use_cpu_cores({cores}) "
                             "before JAX's first computation (in a fresh process)") from None
    return cores


def chain_mesh(chains: int) -> Mesh:
    """:func:`batch_mesh` over as many local devices as divide ``chains`` evenly (4 chains on
    3 devices use 2 of them)."""
    devices = jax.local_devices()
    used = max(d for d in range(1, len(devices) + 1) if chains % d == 0)
    return batch_mesh(devices[:used])


def split_over_devices(fn: Callable[[Any], Any], args: Any) -> Any:
    """``fn(args)`` with the batch (the leading axis of every leaf of ``args`` and of the
    result) split over the local devices that divide it evenly (:func:`chain_mesh`), each
    device running ``fn`` on its share (``jax.shard_map``); on one device just ``fn(args)``.
    ``fn`` must treat the batch entries independently (a ``jax.vmap`` or ``lax.map``). On a CPU
    split into devices (:func:`use_cpu_cores`) this is what puts every core to work: one
    device runs one thread. Jittable.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> split_over_devices(jax.vmap(jnp.sum), jnp.ones((4, 3))).tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    if jax.local_device_count() == 1:
        return fn(args)
    mesh = chain_mesh(jax.tree.leaves(args)[0].shape[0])
    return jax.shard_map(fn, mesh=mesh, in_specs=PartitionSpec("batch"), out_specs=PartitionSpec("batch"),
                         check_vma=False)(args)


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
