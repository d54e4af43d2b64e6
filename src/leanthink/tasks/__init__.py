"""Tasks by name. `get_task("arith")` returns a ready Task instance."""

from __future__ import annotations

from ..errors import LeanthinkError
from .base import Problem, Task, extract_answer

_REGISTRY: dict[str, str] = {
    # name -> "module:Class"; imported lazily so a broken optional task never breaks the others
    "arith": "leanthink.tasks.arithmetic:ArithTask",
    "prosqa": "leanthink.tasks.prosqa:ProsQATask",
    "iterate": "leanthink.tasks.iterate:IterateTask",
    "gsm8k": "leanthink.tasks.gsm8k:GSM8KTask",
    "math500": "leanthink.tasks.math:Math500Task",
    "aime": "leanthink.tasks.math:AimeTask",
}


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str, **options) -> Task:
    if name not in _REGISTRY:
        raise LeanthinkError(f"unknown task {name!r}; choose one of: {', '.join(task_names())}")
    import importlib

    module, cls = _REGISTRY[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)(**options)
    except TypeError as e:
        raise LeanthinkError(f"task {name!r}: bad option(s) {sorted(options)}: {e}") from None


__all__ = ["Problem", "Task", "get_task", "task_names", "extract_answer"]
