"""An independent float64 NumPy Jansen-Rit network, written from Jansen & Rit (1995) and
TVB's equations with the textbook exp sigmoid and a full history array (no ring buffer)."""

import numpy as np

DEFAULTS = dict(A=3.25, B=22.0, a=0.1, b=0.05, v0=5.52, e0=0.0025, r=0.56, J=135.0,
                a_1=1.0, a_2=0.8, a_3=0.25, a_4=0.25, mu=0.22, G=1.0, speed=3.0, sigma=0.05)


def sigm(v, p):
    return 2.0 * p["e0"] / (1.0 + np.exp(p["r"] * (p["v0"] - v)))


def jr_rhs(y, u, p):
    y0, y1, y2, y3, y4, y5 = y
    A, B, a, b, J = p["A"], p["B"], p["a"], p["b"], p["J"]
    return np.array([
        y3, y4, y5,
        A * a * sigm(y1 - y2, p) - 2 * a * y3 - a * a * y0,
        A * a * (u + p["a_2"] * J * sigm(p["a_1"] * J * y0, p)) - 2 * a * y4 - a * a * y1,
        B * b * p["a_4"] * J * sigm(p["a_3"] * J * y0, p) - 2 * b * y5 - b * b * y2,
    ])


def simulate_reference(weights, lengths, p, dt, z, decimation, method="heun"):
    """z: (n_steps, N) standard normals; returns the block-averaged LFP (n_steps // decimation, N)."""
    p = {**DEFAULTS, **p}
    n_steps, n = z.shape
    lags = np.maximum(np.rint(lengths / p["speed"] / dt), 1).astype(int)
    y = np.zeros((6, n))
    h = [sigm(y[1] - y[2], p)]  # h[s] = S(v(s)); h(s < 0) = h[0] (constant past)

    def coupling(t):
        return np.array([p["G"] * sum(weights[i, j] * h[max(t - lags[i, j], 0)][j] for j in range(n)) for i in range(n)])

    lfp = []
    for t in range(n_steps):
        dw = np.zeros((6, n))
        dw[4] = p["A"] * p["a"] * p["sigma"] * np.sqrt(dt) * z[t]
        f0 = jr_rhs(y, p["mu"] + coupling(t), p)
        if method == "heun":
            pred = y + dt * f0 + dw
            y = y + 0.5 * dt * (f0 + jr_rhs(pred, p["mu"] + coupling(t + 1), p)) + dw
        else:
            y = y + dt * f0 + dw
        h.append(sigm(y[1] - y[2], p))
        lfp.append(y[1] - y[2])
    return np.array(lfp).reshape(n_steps // decimation, decimation, n).mean(axis=1)
