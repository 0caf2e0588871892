"""The networks, data and kernels the benchmarks share: tvb76 for N = 76, seeded random ones
otherwise; the occipital spectrum of the shipped EEG; the ring-buffer coupling kernel.

Conduction speed is chosen so that the longest tract is 255 steps of 0.1 ms, as in the
probes of PROBES.md.
"""

import jax
import jax.numpy as jnp
import numpy as np

DT = 0.1
MAX_LAG_STEPS = 255


def benchmark_network(n: int, connectome: str = "tvb76") -> tuple[np.ndarray, np.ndarray, float]:
    """(weights (n, n) symmetric, lengths (n, n) in mm, speed in mm/ms).

    For n = 76, ``connectome`` may name a copy of tvb-data's connectivity_76.zip (for a
    machine without tvb-data).
    """
    if n == 76:
        from nffit import load_connectome

        conn = load_connectome(connectome)
        weights = 0.5 * (conn.weights + conn.weights.T)  # symmetric: vbjax transposes weights vs lags
        lengths = conn.lengths
    else:
        rng = np.random.default_rng(n)
        weights = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.3)
        weights = 0.5 * (weights + weights.T)
        lengths = rng.uniform(5, 150, (n, n))
        lengths = 0.5 * (lengths + lengths.T)
    speed = float(lengths.max()) / (MAX_LAG_STEPS * DT)
    return weights, lengths, speed


def occipital_spectrum(path=None):
    """O1, Oz and O2 of data/S001R02.edf, 2-40 Hz, 2 s Hann segments (the demo's fitting data),
    or the same spectrum read from ``path``, written by `nffit spectrum data/S001R02.edf
    --picks O1,Oz,O2 --fmin 2 --fmax 40 --segment 2` (for a machine without MNE)."""
    from nffit.eeg import load_spectrum, read_eeg_spectrum, sample_eeg_path

    if path:
        return load_spectrum(path)
    return read_eeg_spectrum(sample_eeg_path(), picks=["O1", "Oz", "O2"], fmin=2.0, fmax=40.0, segment_s=2.0)


def coupling_kernel(lags, n_slots: int, steps: int):
    """``run(history (L, N, B)) -> input (N, B)``: ``steps`` steps of the simulator's coupling
    kernel, each writing the newest ring-buffer slot then reading every region's delayed
    input with :func:`nffit.delays.delayed_sum` (``lags`` a :class:`~nffit.delays.Delays`)."""
    from nffit.delays import delayed_sum

    def run(hist):
        def body(carry, t):
            h, c = carry
            h = jax.lax.dynamic_update_index_in_dim(h, jnp.tanh(c), t % n_slots, 0)
            return (h, delayed_sum(h, t + 1, lags)), None
        return jax.lax.scan(body, (hist, hist[0]), jnp.arange(steps))[0][1]

    return run
