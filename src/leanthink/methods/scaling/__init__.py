"""Inference-time scaling: particle filtering (and particle Gibbs, parallel tempering) and its
baselines (self-consistency, best-of-N, weighted best-of-N, beam search, DVTS). See base.py for the
machinery they share and reference.py for a minimal particle filter to read first."""
