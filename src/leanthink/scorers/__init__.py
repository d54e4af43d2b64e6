"""Scorers: process reward models and verifiers that follow the policy's rows (see base.py)."""

from .base import EngineFollower, RowData, Scorer
from .prm import AGGREGATIONS, PRMFormat, ProcessRewardModel, save_prm
from .verifier import ExactVerifier

ORACLE = ("oracle", "exact-verifier")


def load_scorer(spec: str, device: str = "auto", dtype: str = "auto") -> Scorer:
    """A scorer from a spec: a PRM directory or builtin:NAME (Qwen2.5-Math-PRM format), or "oracle"
    (the exact verifier, for oracle experiments)."""
    if spec in ORACLE:
        return ExactVerifier()
    return ProcessRewardModel.load(spec, device=device, dtype=dtype)


__all__ = ["load_scorer", "AGGREGATIONS", "EngineFollower", "ExactVerifier", "PRMFormat", "ProcessRewardModel", "RowData",
           "Scorer", "save_prm"]
