"""Scorers: process reward models and verifiers that follow the policy's rows (see base.py)."""

from .base import EngineFollower, RowData, Scorer
from .prm import AGGREGATIONS, PRMFormat, ProcessRewardModel, save_prm
from .verifier import ExactVerifier

__all__ = ["AGGREGATIONS", "EngineFollower", "ExactVerifier", "PRMFormat", "ProcessRewardModel", "RowData",
           "Scorer", "save_prm"]
