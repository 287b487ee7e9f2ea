"""``python -m tests.support.fhir_engine_main ROUTES.yaml``: ``passerelle run`` plus a test map.

The engine is built from routes.yaml exactly as ``passerelle run`` builds it (channels,
destinations, ordering, retry); the only addition is the test-only ADT → FR Core Bundle
transform (tests/support/fhir_bundles.py) on the route named ``adt``, so a subprocess
engine can deliver FHIR before the project's maps exist. Logs are JSON on stderr.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine import logs
from engine.assembly import build_engine
from engine.config.loader import load_config
from tests.support.fhir_bundles import adt_bundle


def main() -> None:
    logs.configure("INFO", "json")
    engine = build_engine(load_config(Path(sys.argv[1])))
    engine.pipeline.transforms["adt"] = adt_bundle
    asyncio.run(engine.run())


if __name__ == "__main__":
    main()
