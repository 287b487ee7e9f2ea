"""``passerelle test``: YAML test cases for maps and routes, run by the CLI and by pytest.

See ``docs/testing.md``. Case files: ``mappings/<map>_test.yaml`` (beside each map) and
``tests/routes/*.yaml``; :class:`Runner` runs them, :mod:`engine.testing.pytest_plugin`
collects them as pytest items.
"""

from __future__ import annotations

from engine.testing.cases import Case, CaseFile, is_case_file, load_case_file
from engine.testing.runner import CaseResult, Runner

__all__ = ["Case", "CaseFile", "CaseResult", "Runner", "is_case_file", "load_case_file"]
