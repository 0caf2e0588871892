"""nffit: fit delayed, stochastic brain-network models to EEG power spectra.

The package follows the data flow: connectome -> model -> delays and integration ->
observation -> spectrum -> likelihood -> inference. Importing it has no side effects (no
printing, no ``XLA_FLAGS``, no global JAX configuration).
"""

from nffit.connectome import Connectome, load_connectome, normalise_weights
from nffit.delays import Delays, compute_delays
from nffit.errors import NffitError
from nffit.models import JANSEN_RIT, JansenRitParams, Model, get_model
from nffit.simulator import SimulationOutput, Simulator, make_simulator, simulate
from nffit.welch import welch, welch_dof  # noqa: E402  (the function shadows the module attribute)
from nffit.analytic_spectrum import AnalyticSpectrum, make_analytic_spectrum
from nffit.observation import ObservationParams, observe_spectrum
from nffit.gain import Gain, load_tvb_eeg_gain
from nffit.eeg import ObservedSpectrum, load_spectrum, read_eeg_spectrum, save_spectrum

__all__ = [
    "Connectome", "load_connectome", "normalise_weights",
    "Delays", "compute_delays",
    "NffitError",
    "JANSEN_RIT", "JansenRitParams", "Model", "get_model",
    "SimulationOutput", "Simulator", "make_simulator", "simulate",
    "welch", "welch_dof",
    "AnalyticSpectrum", "make_analytic_spectrum",
    "ObservationParams", "observe_spectrum",
    "Gain", "load_tvb_eeg_gain",
    "ObservedSpectrum", "read_eeg_spectrum", "save_spectrum", "load_spectrum",
]
__version__ = "0.1.0"
