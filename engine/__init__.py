"""Passerelle engine: message model, durable store, queue, router, pipeline and CLI."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
