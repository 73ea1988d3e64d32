"""Experiments: replicates, paired comparisons, sweeps and global sensitivity over scenarios."""
