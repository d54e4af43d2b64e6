"""leanthink: cheaper inference for reasoning language models, with measurements to prove it."""

__version__ = "0.1.0"
