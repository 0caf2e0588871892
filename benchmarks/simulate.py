"""Simulator throughput: node-steps/s and delayed lookups/s, forward and gradient, batch
layouts against this machine's copy bandwidth, the seed notebook's non-delayed case, and
vbjax side by side.

    python benchmarks/simulate.py [--quick] [--json benchmarks/results/simulate.json] [--no-vbjax]
                                  [--sections grid,layouts,seed,vbjax]

T = 1024 steps of dt = 0.1 ms, the longest delay 255 steps (PROBES.md's probe settings).
"Reads" counts the delayed lookups actually made: N * K * B per step, K the largest in-degree
(connections of weight 0 are never read); "dense-equivalent lookups" counts N * N * B.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from networks import DT, benchmark_network, coupling_kernel  # noqa: E402
from timing import copy_bandwidth, machine, print_table, time_compiled, write_json  # noqa: E402

from nffit import Connectome, JansenRitParams, make_simulator  # noqa: E402
from nffit.delays import compute_delays, incoming  # noqa: E402

T = 1024


def simulator(n: int, *, delays: bool = True, dt: float = DT):
    weights, lengths, speed = benchmark_network(n)
    conn = Connectome(weights, lengths, tuple(map(str, range(n))), None)
    sim = make_simulator(conn, dt=dt, duration_ms=T * dt, transient_ms=0.0, fs=1000.0 / (8 * dt),
                         min_speed=speed, delays=delays)
    return sim, JansenRitParams(speed=speed)


def grid(ns, batches, repeats):
    rows = []
    for n in ns:
        sim, params = simulator(n)
        k = int(incoming(benchmark_network(n)[0])[0].shape[1])
        for b in batches:
            keys = jax.random.split(jax.random.key(0), b)
            fwd = time_compiled(lambda k, p: sim.run(k, p).lfp, keys, params, repeats=repeats)

            def loss(theta, k):
                return jnp.sum(sim.run(k, params._replace(G=theta[0], mu=theta[1])).lfp ** 2)

            grad = time_compiled(jax.grad(loss), jnp.array([1.0, 0.22]), keys, repeats=max(1, repeats // 2))
            for mode, r in (("forward", fwd), ("gradient", grad)):
                rows.append({"N": n, "K": k, "B": b, "mode": mode, **r,
                             "node_steps_per_s": n * b * T / r["median_s"],
                             "reads_per_s": n * k * b * T / r["median_s"],
                             "dense_lookups_per_s": n * n * b * T / r["median_s"],
                             "us_per_step": 1e6 * r["median_s"] / T})
            print(f"  N={n} B={b}: forward {fwd['median_s'] * 1e3:.1f} ms, gradient {grad['median_s'] * 1e3:.1f} ms", flush=True)
    return rows


def layouts(n, batches, repeats):
    """The whole simulation with the batch trailing (ours) vs jax.vmap of single runs, and the
    delayed-read kernel alone with the batch trailing, leading, or vmapped."""
    sim, params = simulator(n)
    rows = []
    for b in batches:
        keys = jax.random.split(jax.random.key(0), b)
        trailing = time_compiled(lambda k, p: sim.run(k, p).lfp, keys, params, repeats=repeats)
        vmapped = time_compiled(lambda k, p: jax.vmap(lambda kk: sim.run(kk[None], p).lfp[0])(k), keys, params, repeats=repeats)
        rows.append({"what": "simulation", "N": n, "B": b, "layout": "trailing", **trailing})
        rows.append({"what": "simulation", "N": n, "B": b, "layout": "vmap", **vmapped})
        for layout, r in kernel_layouts(n, b, repeats).items():
            rows.append({"what": "delay kernel", "N": n, "B": b, "layout": layout, **r})
    k = int(incoming(benchmark_network(n)[0])[0].shape[1])
    for r in rows:
        r["reads_per_s"] = n * k * r["B"] * T / r["median_s"]
    return rows


def kernel_layouts(n, b, repeats):
    """T steps of: write a new slot, then read the delayed input of every connection."""
    weights, lengths, speed = benchmark_network(n)
    n_slots = 257
    lags = compute_delays(weights, lengths, jnp.asarray(speed), DT, n_slots - 1)
    source, lag, w = lags.source, lags.lag, lags.weight

    trailing = coupling_kernel(lags, n_slots, T)  # (L, N, B): each lookup reads B contiguous numbers

    def leading(hist):  # (B, L, N): each lookup reads one number
        def body(carry, t):
            h, c = carry
            h = jax.lax.dynamic_update_index_in_dim(h, jnp.tanh(c), t % n_slots, 1)
            delayed = h[:, (t + 1 - lag) % n_slots, source]  # (B, N, K)
            return (h, jnp.sum(w * delayed, axis=-1)), None
        return jax.lax.scan(body, (hist, hist[:, 0]), jnp.arange(T))[0][1]

    def vmapped(hist):  # (B, L, N, 1): the trailing kernel of one entry, vmapped over B
        return jax.vmap(trailing)(hist)

    base = jax.random.uniform(jax.random.key(1), (n_slots, n, b))
    return {
        "trailing": time_compiled(trailing, base, repeats=repeats),
        "leading": time_compiled(leading, jnp.transpose(base, (2, 0, 1)), repeats=repeats),
        "vmap": time_compiled(vmapped, jnp.transpose(base, (2, 0, 1))[..., None], repeats=repeats),
    }


def seed_case(repeats):
    """The seed notebook: 32 nodes, 1024 steps of 1 ms, no delays; single, vmap x 8, trailing x 8."""
    sim, params = simulator(32, delays=False, dt=1.0)
    keys8 = jax.random.split(jax.random.key(0), 8)
    out = {
        "single": time_compiled(lambda k, p: sim.run(k, p).lfp, keys8[:1], params, repeats=repeats),
        "vmap x 8": time_compiled(lambda k, p: jax.vmap(lambda kk: sim.run(kk[None], p).lfp[0])(k), keys8, params, repeats=repeats),
        "trailing x 8": time_compiled(lambda k, p: sim.run(k, p).lfp, keys8, params, repeats=repeats),
    }
    return [{"case": name, **r} for name, r in out.items()]


def vbjax_side(cases):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "vbjax_side.py"), *[f"{n}:{b}" for n, b in cases]],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print("vbjax side failed (pip install -e '.[bench]'?):", proc.stderr.strip().splitlines()[-1:], file=sys.stderr)
        return []
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small grid with one repeat (smoke test)")
    parser.add_argument("--no-vbjax", action="store_true")
    parser.add_argument("--json", default="benchmarks/results/simulate.json")
    parser.add_argument("--sections", default="grid,layouts,seed,vbjax", help="comma-separated subset to run")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    repeats = 1 if args.quick else 5
    ns, batches = ((32,), (1, 8)) if args.quick else ((32, 76, 256), (1, 8, 32, 64))
    info = machine()
    print(f"machine: {info}")
    bound = copy_bandwidth(64 << 20 if args.quick else 1 << 30, 2 if args.quick else 10)
    print(f"copy bandwidth (1 GiB float32, read + write): {bound / 1e9:.1f} GB/s")

    rows, layout_rows, seed_rows = [], [], []
    if "grid" in sections:
        print("\n== throughput (trailing batch layout) ==")
        rows = grid(ns, batches, repeats)
        print_table(rows, ["N", "K", "B", "mode", "compile_s", "median_s", "us_per_step", "node_steps_per_s",
                           "reads_per_s", "dense_lookups_per_s", "memory_bytes"])

    if "layouts" in sections:
        print("\n== batch layouts (delayed); share of the copy bandwidth at 4 bytes per read ==")
        layout_rows = layouts(32 if args.quick else 76, (8,) if args.quick else (8, 32, 64, 128), repeats)
        for r in layout_rows:
            r["share_of_copy_bandwidth"] = 4 * r["reads_per_s"] / bound
        print_table(layout_rows, ["what", "N", "B", "layout", "compile_s", "median_s", "reads_per_s",
                                  "share_of_copy_bandwidth"])

    if "seed" in sections:
        print("\n== seed notebook case (32 nodes, 1024 x 1 ms, no delays) ==")
        seed_rows = seed_case(repeats)
        print_table(seed_rows, ["case", "compile_s", "median_s"])

    vb_rows = []
    if "vbjax" in sections and not args.no_vbjax:
        print("\n== vbjax 0.0.19 make_sdde + delay_apply, same networks and T ==")
        cases = [(32, 8)] if args.quick else [(32, 8), (76, 8), (76, 32)]
        vb_rows = vbjax_side(cases)
        ours = {(r["N"], r["B"]): r["median_s"] for r in rows if r["mode"] == "forward"}
        ours.update({(r["N"], r["B"]): r["median_s"] for r in layout_rows
                     if r["what"] == "simulation" and r["layout"] == "trailing"})
        for r in vb_rows:
            if (r["N"], r["B"]) in ours:
                r["nffit_s"] = ours[(r["N"], r["B"])]
                r["speedup"] = r["median_s"] / r["nffit_s"]
        print_table(vb_rows, ["impl", "N", "B", "max_lag", "compile_s", "median_s", "nffit_s", "speedup"])

    write_json(args.json, {"machine": info, "T": T, "dt_ms": DT, "copy_bandwidth_bytes_per_s": bound,
                           "throughput": rows, "layouts": layout_rows,
                           "seed_case": seed_rows, "vbjax": vb_rows})
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
