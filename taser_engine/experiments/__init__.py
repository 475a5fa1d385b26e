"""Self-contained experiments of the paper: the 1D extrapolation study (section 5.1) and its tables."""
