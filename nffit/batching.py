"""One native batch under ``jax.vmap``.

Samplers map a log density over chains or particles with ``jax.vmap``. nffit's spectra are
natively batched (one simulation with a batch axis, one stability check per batch), and a
native batch is what makes batch-wide control flow a real branch: under plain ``vmap`` a
``lax.cond`` becomes a select that runs both sides. :func:`native_batch` folds the mapped
axis into the function's own batch axis with ``jax.custom_batching.custom_vmap``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["native_batch"]


def native_batch(fn: Callable, axis: int = -1) -> Callable:
    """``fn`` over pytrees whose every leaf carries the batch (B) on ``axis`` (-1 or 0), made
    to run once on a batch of ``K * B`` when mapped by ``jax.vmap`` over ``K``.

    Every input and output leaf must have the batch axis (broadcast scalars before calling).
    No reverse-mode derivative: use it on ``lax.stop_gradient`` inputs, or for gradient-free
    samplers.

    Examples
    --------
    >>> count = native_batch(lambda x: jax.lax.cond(jnp.all(x > 0), lambda: x * 0, lambda: x), axis=0)
    >>> jax.vmap(count)(jnp.ones((3, 2))).shape  # one call on a batch of 6
    (3, 2)
    """
    if axis not in (0, -1):
        raise ValueError("axis must be 0 or -1")
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        x0, b0 = jax.tree.leaves(args)[0], jax.tree.leaves(tuple(in_batched))[0]
        batch = x0.shape[-1] if axis == -1 else x0.shape[1 if b0 else 0]

        def fold(x, batched):
            if axis == -1:
                x = jnp.moveaxis(x, 0, -1) if batched else x[..., None]
                x = jnp.broadcast_to(x, x.shape[:-2] + (batch, axis_size))
                return x.reshape(x.shape[:-2] + (batch * axis_size,))
            x = jnp.swapaxes(x, 0, 1) if batched else x[:, None]
            x = jnp.broadcast_to(x, (batch, axis_size) + x.shape[2:])
            return x.reshape((batch * axis_size,) + x.shape[2:])

        def unfold(y):
            if axis == -1:
                return jnp.moveaxis(y.reshape(y.shape[:-1] + (batch, axis_size)), -1, 0)
            return jnp.swapaxes(y.reshape((batch, axis_size) + y.shape[1:]), 0, 1)

        out = wrapped(*jax.tree.map(fold, args, tuple(in_batched)))
        return jax.tree.map(unfold, out), jax.tree.map(lambda _: True, out)

    return wrapped
