"""Experiments: replicates, paired comparisons, sweeps and global sensitivity over scenarios."""

from credsim.experiment.experiment import Experiment
from credsim.experiment.results import ExperimentResults

__all__ = ["Experiment", "ExperimentResults"]
