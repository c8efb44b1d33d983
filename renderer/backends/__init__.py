"""Animator backends. ``procedural`` (the default) is registered on import."""

from .base import (
    AnimationJob,
    AnimatorBackend,
    HeadRegion,
    backend_names,
    get_backend,
    register_backend,
)
from .procedural import ProceduralBackend

__all__ = [
    "AnimationJob",
    "AnimatorBackend",
    "HeadRegion",
    "ProceduralBackend",
    "backend_names",
    "get_backend",
    "register_backend",
]
