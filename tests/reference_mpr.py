"""An independent float64 NumPy Montbrio-Pazo-Roxin network, written from Montbrio, Pazo &
Roxin (2015), eq. (12) (``tau r' = Delta / (pi tau) + 2 r V``,
``tau V' = V^2 + eta + J tau r + I - (pi tau r)^2``), the network input ``c = G W r(t - lag)``
and white noise added to ``V'``; a full history list (no ring buffer)."""

import numpy as np

DEFAULTS = dict(tau=10.0, Delta=1.0, eta=-5.0, J=15.0, I=0.0, G=1.0, speed=3.0, sigma=0.01)


def mpr_rhs(r, v, c, p):
    tau = p["tau"]
    dr = (p["Delta"] / (np.pi * tau) + 2.0 * r * v) / tau
    dv = (v**2 + p["eta"] + p["J"] * tau * r + p["I"] - (np.pi * tau * r) ** 2) / tau + c
    return dr, dv


def simulate_reference(weights, lengths, p, dt, z, decimation):
    """Stochastic Heun from r = V = 0; z: (n_steps, N) standard normals; returns the
    block-averaged V, (n_steps // decimation, N)."""
    p = {**DEFAULTS, **p}
    n_steps, n = z.shape
    lags = np.maximum(np.rint(lengths / p["speed"] / dt), 1).astype(int)
    r, v = np.zeros(n), np.zeros(n)
    h = [r.copy()]  # h[s] = r(s); h(s < 0) = h[0]

    def coupling(t):
        return np.array([p["G"] * sum(weights[i, j] * h[max(t - lags[i, j], 0)][j] for j in range(n)) for i in range(n)])

    out = []
    for t in range(n_steps):
        dw = p["sigma"] * np.sqrt(dt) * z[t]
        f_r, f_v = mpr_rhs(r, v, coupling(t), p)
        pred_r, pred_v = r + dt * f_r, v + dt * f_v + dw
        g_r, g_v = mpr_rhs(pred_r, pred_v, coupling(t + 1), p)
        r, v = r + 0.5 * dt * (f_r + g_r), v + 0.5 * dt * (f_v + g_v) + dw
        h.append(r.copy())
        out.append(v)
    return np.array(out).reshape(n_steps // decimation, decimation, n).mean(axis=1)
