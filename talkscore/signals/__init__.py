"""Training-free signals that transfer across generators: named measures of one video
(`measures`) and where they sit among real recordings (`reference`)."""

from talkscore.signals.measures import REALISM, SIGNALS, Signal, measure_signals
from talkscore.signals.reference import RealReference, real_reference

__all__ = ["REALISM", "SIGNALS", "RealReference", "Signal", "measure_signals", "real_reference"]
