"""Reproducible white-noise draws, one stream per batch entry.

Entry ``b`` of a batch draws its noise from its own key only, block by block (one block
per output sample), so a batch entry's noise does not depend on the batch size, on the
other entries, or on how the run is chunked. Giving every entry the same key gives common
random numbers across parameter sets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["entry_keys", "batch_size_of_keys", "standard_normal_block"]


def _is_typed_key(key: Array) -> bool:
    return jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)


def entry_keys(rng_key: Array, batch_size: int) -> Array:
    """One key per batch entry.

    Parameters
    ----------
    rng_key : a single key (``jax.random.key(0)`` or legacy ``PRNGKey(0)``), split into
        ``batch_size`` keys, or already one key per entry (shape (B,) typed, (B, 2) legacy).
    batch_size : int

    Returns
    -------
    Keys with a leading axis of length ``batch_size``.
    """
    single_shape = () if _is_typed_key(rng_key) else (2,)
    if rng_key.shape == single_shape:
        return jax.random.split(rng_key, batch_size)
    if rng_key.shape[0] != batch_size or rng_key.shape[1:] != single_shape:
        raise ValueError(f"rng_key has shape {rng_key.shape}: give one key, or one key per batch entry ({batch_size})")
    return rng_key


def batch_size_of_keys(rng_key: Array) -> int | None:
    """Number of entry keys in ``rng_key``, or None for a single key."""
    single_ndim = 0 if _is_typed_key(rng_key) else 1
    return None if rng_key.ndim == single_ndim else int(rng_key.shape[0])


def standard_normal_block(keys: Array, block: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """Standard normals for block ``block`` of every entry, batch axis last.

    Parameters
    ----------
    keys : keys with leading axis B (see :func:`entry_keys`)
    block : int Array, shape () or (B,)
        Block index (the output-sample index in the simulator), one for all entries or one
        per entry.
    shape : tuple of int
        Shape of one entry's block, e.g. ``(steps, noise_dims, N)``.

    Returns
    -------
    Array, shape ``shape + (B,)``: entry ``b`` is ``normal(fold_in(keys[b], block[b]), shape)``.
    """
    blocks = jnp.broadcast_to(block, keys.shape[:1])
    draws = jax.vmap(lambda k, i: jax.random.normal(jax.random.fold_in(k, i), shape, dtype))(keys, blocks)
    return jnp.moveaxis(draws, 0, -1)
