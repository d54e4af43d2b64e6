"""Methods by name: `get_method("cot", **settings)`."""

from __future__ import annotations

import dataclasses
import importlib

from ..errors import LeanthinkError
from .base import Method, Result

_REGISTRY: dict[str, str] = {
    "cot": "leanthink.methods.basic:CoT",
    "direct": "leanthink.methods.basic:Direct",
    "reference": "leanthink.methods.basic:Reference",
    "self-consistency": "leanthink.methods.scaling.sampling:SelfConsistency",
    "best-of-n": "leanthink.methods.scaling.sampling:BestOfN",
    "weighted-best-of-n": "leanthink.methods.scaling.sampling:WeightedBestOfN",
    "beam": "leanthink.methods.scaling.beam:Beam",
    "dvts": "leanthink.methods.scaling.beam:DVTS",
    "particle-filter": "leanthink.methods.scaling.particle_filter:ParticleFilter",
    "particle-gibbs": "leanthink.methods.scaling.particle_gibbs:ParticleGibbs",
    "parallel-tempering": "leanthink.methods.scaling.particle_gibbs:ParallelTempering",
    "lightthinker": "leanthink.methods.lightthinker:LightThinker",
    "h2o": "leanthink.methods.h2o:H2O",
    "coconut": "leanthink.methods.coconut:Coconut",
    "litereason": "leanthink.methods.litereason:LiteReason",
    "budget-forcing": "leanthink.methods.compact:BudgetForcing",
    "early-exit": "leanthink.methods.compact:EarlyExit",
    "tokenskip": "leanthink.methods.controlled:TokenSkip",
    "l1": "leanthink.methods.controlled:L1",
    "route": "leanthink.methods.router:Route",
}


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def method_class(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise LeanthinkError(f"unknown method {name!r}; choose one of: {', '.join(method_names())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def has_setting(name: str, key: str) -> bool:
    return key in {f.name for f in dataclasses.fields(method_class(name))}


def get_method(name: str, **settings) -> Method:
    """A method instance; unknown settings are an error (never silently ignored)."""
    cls = method_class(name)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in settings.items():
        if key not in known:
            raise LeanthinkError(f"method {name!r} has no setting {key!r}; its settings: {', '.join(known) or 'none'}")
    try:
        return cls(**settings)
    except (TypeError, ValueError, OverflowError) as e:
        raise LeanthinkError(f"method {name!r}: {e}") from e


from .settings import method_settings  # noqa: E402  (needs method_class above)

__all__ = ["Method", "Result", "get_method", "has_setting", "method_class", "method_names", "method_settings"]
