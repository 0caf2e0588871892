"""vbjax 0.0.19's delayed network, as its docs build one: make_sdde + make_delay_helper/delay_apply.

Run in its own process: ``import vbjax`` sets XLA_FLAGS. Prints one JSON line per case.
Usage: python benchmarks/vbjax_side.py N:B [N:B ...]
"""

import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import vbjax as vb

from networks import benchmark_network

T, DT = 1024, 0.1


def case(n: int, batch: int) -> dict:
    weights, lengths, speed = benchmark_network(n)
    dh = vb.make_delay_helper(jnp.asarray(weights, jnp.float32), jnp.asarray(lengths, jnp.float32), dt=DT, v_c=speed)
    nh = int(dh.max_lag)
    theta = vb.jr_default_theta

    def dfun(buf, x, t, p):
        delayed = vb.delay_apply(dh, t, buf)  # (6, N) weighted sums of delayed states
        return vb.jr_dfun(x, delayed[1] - delayed[2], p)

    _, loop = vb.make_sdde(DT, nh, dfun, 0.01)

    def run(bufs):
        return jax.vmap(lambda b: loop(b, theta)[1])(bufs)

    key = jax.random.key(0)
    bufs = jnp.concatenate([jnp.zeros((batch, nh + 1, 6, n)), jax.random.normal(key, (batch, T, 6, n))], axis=1)
    jitted = jax.jit(run)
    start = time.perf_counter()
    compiled = jitted.lower(bufs).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(bufs))
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(compiled(bufs))
        runs.append(time.perf_counter() - start)
    return {"impl": "vbjax make_sdde", "N": n, "B": batch, "T": T, "max_lag": nh, "compile_s": compile_s,
            "median_s": statistics.median(runs)}


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        n, b = (int(v) for v in spec.split(":"))
        print(json.dumps(case(n, b)), flush=True)
