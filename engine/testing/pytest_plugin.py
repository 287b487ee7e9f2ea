"""pytest plugin: every case of ``mappings/*_test.yaml`` and ``tests/routes/*.yaml`` is a
test item (enabled in ``pyproject.toml`` with ``-p engine.testing.pytest_plugin``).

A failing case reports its name, ``file:line`` and the reasons (with a unified diff for
JSON); a case file with errors fails as one item listing its diagnostics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config.diagnostics import render
from engine.testing.cases import Case, is_case_file, load_case_file
from engine.testing.runner import CaseResult, Runner

_RUNNERS: dict[Path, Runner] = {}


def _runner(root: Path) -> Runner:
    if root not in _RUNNERS:
        _RUNNERS[root] = Runner(root)
    return _RUNNERS[root]


class CaseFailed(Exception):
    """A case did not hold; the text says where and why."""


def pytest_report_header() -> str:
    """Says whether map and route case outputs are checked against FR Core, or why not."""
    from engine.formats.fhir.frcore import DEFAULT_VERSION
    from engine.testing.frcore import frcore_skipped

    skipped = frcore_skipped()
    if skipped:
        return f"FR Core check of case outputs: skipped ({skipped})"
    return f"FR Core check of case outputs: FR Core {DEFAULT_VERSION}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_case_file(file_path, parent.config.rootpath):
        collector: pytest.Collector = CaseFileCollector.from_parent(parent, path=file_path)
        return collector
    return None


class CaseFileCollector(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        root = self.config.rootpath
        case_file = load_case_file(self.path, str(self.path.relative_to(root)))
        if case_file.has_errors:
            text = render(case_file.diagnostics)
            yield BrokenCaseFile.from_parent(self, name="(case file)", text=text)
            return
        for case in case_file.cases:
            yield CaseItem.from_parent(self, name=case.name, case=case)


class BrokenCaseFile(pytest.Item):
    def __init__(self, *, text: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text

    def runtest(self) -> None:
        raise CaseFailed(self.text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        result: CaseResult = _runner(self.config.rootpath).run(self.case, self.path)
        if result.status == "skipped":
            pytest.skip("; ".join(result.messages))
        if result.status == "failed":
            raise CaseFailed(result.describe())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"case: {self.case.name}"


__all__ = ["CaseFailed", "CaseFileCollector", "CaseItem", "pytest_collect_file"]
