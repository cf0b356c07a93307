"""Thin adapters over the sibling packages the pipeline calls.

Every call into ``cnlab.preprocess``, ``cnlab.mf``, ``cnlab.scoring``,
``cnlab.topics`` and ``cnlab.similarity`` goes through this module, so that an
interface difference is absorbed in one place.  Imports are lazy: importing
:mod:`cnlab.pipeline` does not import TensorFlow.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cnlab")


#: TODO(integration): local stand-ins while a sibling module is missing (reported).
_FALLBACKS = {
    ("cnlab.preprocess", "preprocess"): ("cnlab.pipeline._fallback", "preprocess"),
    ("cnlab.preprocess", "filter_ratings"): ("cnlab.pipeline._fallback", "filter_ratings"),
}


def get(module: str, name: str) -> Callable[..., Any]:
    """``module.name`` (imported lazily; falls back to a local stand-in if listed)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        fb = _FALLBACKS.get((module, name))
        if fb is None:
            raise
        log.warning("%s.%s unavailable: using cnlab.pipeline stand-in %s", module, name, fb[0])
        return getattr(importlib.import_module(fb[0]), fb[1])


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` passing only the keyword arguments its signature accepts.

    Aliases: a kwarg given as ``("a", "b")``-keyed tuple is not supported; callers
    pass every plausible name and unknown names are dropped (logged at DEBUG).
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins
        return fn(*args, **kwargs)
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    accepted = {k: v for k, v in kwargs.items() if k in params}
    dropped = sorted(set(kwargs) - set(accepted))
    if dropped:
        log.debug("%s: dropping unsupported kwargs %s", getattr(fn, "__name__", fn), dropped)
    return fn(*args, **accepted)
