"""The browser tests skip locally without Chromium, with the reason, and fail in CI."""

from __future__ import annotations

import pytest

from tests.support import browser


def test_a_missing_browser_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium-for-this-test")
    reason = browser.missing()
    assert reason is not None and "apt-get install chromium chromium-driver" in reason
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium-for-this-test"):
        browser.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        browser.require_browser()
