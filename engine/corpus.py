"""Where the shared public corpus is: ``$PASSERELLE_CORPUS``, else ``../shared/corpus``
beside the repository (as CI lays it out). Used by the sandbox servers (official XSDs) and
by the tests, which skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def corpus_root() -> Path:
    configured = os.environ.get("PASSERELLE_CORPUS")
    return Path(configured) if configured else REPO.parent / "shared" / "corpus"


CORPUS = corpus_root()
ABSENT = f"shared corpus not found at {CORPUS} (set PASSERELLE_CORPUS to its location)"

__all__ = ["ABSENT", "CORPUS", "REPO", "corpus_root"]
