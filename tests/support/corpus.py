"""The shared public corpus location (see :mod:`engine.corpus`)."""

from __future__ import annotations

from engine.corpus import ABSENT, CORPUS, REPO, corpus_root

__all__ = ["ABSENT", "CORPUS", "REPO", "corpus_root"]
