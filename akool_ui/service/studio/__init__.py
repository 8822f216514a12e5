"""The Studio (the one door) and what it is made of (``StudioParts``, assembled by ``bootstrap``)."""

from .core import Studio
from .parts import StudioParts

__all__ = ["Studio", "StudioParts"]
