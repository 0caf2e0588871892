"""The code on docs pages runs, and says what the page claims."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: str) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S))


@pytest.fixture(scope="module")
def oscillator_page():
    namespace: dict = {}
    exec(compile(python_blocks("adding_a_model.md"), "adding_a_model.md", "exec"), namespace)
    return namespace


def test_new_model_simulates_and_matches_its_analytic_spectrum(oscillator_page):
    ns = oscillator_page
    assert bool(ns["out"].finite.all()) and bool(ns["analytic"].valid[0])
    freqs = np.asarray(ns["freqs"])[1:]
    simulated = np.asarray(ns["psd_sim"])[1:]
    analytic = np.asarray(ns["psd_analytic"])
    band = (freqs >= 1) & (freqs <= 45)
    # independent check of the level: an isolated damped oscillator (G = 0) has the
    # one-sided PSD 2/1000 sigma^2 w0^4 / |w0^2 - w^2 + 2i zeta w0 w|^2 (w in rad/ms)
    p = ns["OscillatorParams"]()
    w, w0 = 2 * np.pi * freqs / 1000, 2 * np.pi * p.f0 / 1000
    isolated = 2e-3 * p.sigma**2 * w0**4 / np.abs(w0**2 - w**2 + 2j * p.zeta * w0 * w) ** 2
    uncoupled = ns["make_analytic_spectrum"](ns["net"], freqs, model=ns["OSCILLATOR"])(p._replace(G=0.0))
    np.testing.assert_allclose(np.asarray(uncoupled.psd[0, 0]), isolated, rtol=1e-3)
    # the coupled pair: simulation and analytic spectrum agree
    rms = np.sqrt(np.mean(np.log10(simulated[band] / analytic[band]) ** 2))
    assert rms < 0.05, rms
    assert abs(freqs[np.argmax(simulated)] - freqs[np.argmax(analytic)]) <= 0.5
