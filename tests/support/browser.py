"""Headless Chromium for the console's browser tests (Debian's ``chromium`` and
``chromium-driver``, installed by ``.ci/run``; the session is the one the screenshot
script uses, :func:`engine.console.web.screenshots.chromium`).

Locally the tests skip with the reason when the browser is missing; with ``CI=true`` they
fail instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from engine.console.web.screenshots import CHROMEDRIVER, CHROMIUM, chromium

T = TypeVar("T")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Skip (locally) or fail (CI=true) when Chromium or its driver is missing."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


def wait_until(
    driver: webdriver.Chrome, check: Callable[[webdriver.Chrome], T], timeout: float = 15
) -> T:
    """The first truthy value of ``check(driver)`` (polled); TimeoutException otherwise."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(check)


def find(driver: webdriver.Chrome, css: str, timeout: float = 15) -> WebElement:
    """The first visible element matching ``css``, waiting for it."""

    def visible(d: webdriver.Chrome) -> WebElement | None:
        for el in d.find_elements(By.CSS_SELECTOR, css):
            if el.is_displayed():
                return el
        return None

    return wait_until(driver, visible, timeout)


def sign_in(driver: webdriver.Chrome, base_url: str, user: str, password: str) -> None:
    """Sign in through the login form (signing out first), landing on the overview."""
    driver.get(f"{base_url}/login")
    driver.delete_all_cookies()
    driver.get(f"{base_url}/login")
    find(driver, "#username").send_keys(user)
    find(driver, "#password").send_keys(password)
    find(driver, "form.login button[type=submit]").click()
    wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#who .user"))


__all__ = ["chromium", "find", "require_browser", "sign_in", "wait_until"]
