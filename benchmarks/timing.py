"""Timing helpers shared by the benchmark scripts: compile time apart, warm-up, medians."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp

from nffit.sharding import available_cores


def machine() -> dict[str, Any]:
    """What the numbers were measured on (on Linux with the CPU's family and model: virtual
    machines often report only "AMD EPYC" as its name)."""
    info = {"cpu": platform.processor() or platform.machine()}
    names = {"model name": "cpu", "cpu family": "cpu_family", "model": "cpu_model"}
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0]  # the first processor's block
    except OSError:
        first = ""
    for line in first.splitlines():
        name, _, value = (part.strip() for part in line.partition(":"))
        if name in names:
            info[names[name]] = value
        elif name == "flags":
            info["avx512"] = "avx512f" in value.split()
    return info | {"cores": os.cpu_count(), "usable_cores": available_cores(), "backend": jax.default_backend(),
                   "devices": [d.device_kind for d in jax.devices()], "jax": jax.__version__,
                   "python": platform.python_version()}


def time_compiled(fn: Callable, *args, repeats: int = 5) -> dict[str, float]:
    """Compile ``jax.jit(fn)`` for ``args``, warm up once, then time ``repeats`` calls.

    Returns compile seconds, median and min run seconds, and XLA's memory estimate in bytes
    (arguments + outputs + temporaries) when the backend reports one.
    """
    jitted = jax.jit(fn)
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    memory = None
    try:
        m = compiled.memory_analysis()
        memory = int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports memory
        pass
    return {"compile_s": compile_s, "median_s": statistics.median(runs), "min_s": min(runs), "memory_bytes": memory}


def copy_bandwidth(n_bytes: int = 1 << 30, repeats: int = 10) -> float:
    """Bytes/s of ``x * 1.0001`` over a float32 array of ``n_bytes`` (one read and one write of
    every element) on the default device: the memory-bandwidth bound of a streaming kernel."""
    size = min(n_bytes, 1 << 31) // 4
    x = jnp.ones((size,), jnp.float32)
    r = time_compiled(lambda a: a * jnp.float32(1.0001), x, repeats=repeats)
    return 2 * size * 4 / r["median_s"]


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(fmt(r.get(c, "")).rjust(w) for c, w in zip(columns, widths)))
