"""Regenerate the console screenshots of docs/console.md::

    python -m engine.console.web.screenshots            # writes docs/console/*.png

Starts the demo engine (:mod:`engine.console.web.demo`: two MLLP channels, the sandbox
FHIR platform), sends fictitious PAM-FR admissions, makes a short platform outage (dead
letters), then drives Debian's headless Chromium (``chromium``, ``chromium-driver``;
other paths with ``CHROMIUM`` and ``CHROMEDRIVER``) through the overview and one
message. Needs the dev extras (selenium) and a checkout (samples/, mappings/).
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from engine.console.web.demo import REPO, DemoAccount, DemoEngine, adt
from engine.sandbox.fhir_platform import FhirPlatform

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTH = 1440


@contextmanager
def chromium(width: int = WIDTH, height: int = 1000) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session (quit on exit)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _visible(driver: webdriver.Chrome, css: str, timeout: float = 20) -> None:
    WebDriverWait(driver, timeout, 0.1).until(
        lambda d: any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, css))
    )


def _shoot(driver: webdriver.Chrome, path: Path, max_height: int = 3200) -> None:
    """The whole page (up to ``max_height`` pixels) as PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(WIDTH, min(max(height, 700), max_height))
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, 1000)


def _traffic(demo: DemoEngine) -> None:
    """Admissions for a dozen fictitious patients, a platform outage, recovery."""
    for n in range(18):
        demo.send("mllp_a", adt(f"DEMO-A-{n:03d}", f"8{n % 12:05d}"))
    for n in range(5):
        demo.send("mllp_b", adt(f"DEMO-B-{n:03d}", f"9{n:05d}"))
    demo.settle()
    demo.platform.down()
    for n in range(3):
        demo.send("mllp_a", adt(f"DEMO-OUT-{n:03d}", f"7{n:05d}"))
    demo.settle()  # the retries run out: three dead letters
    demo.platform.up()
    for n in range(4):
        demo.send("mllp_a", adt(f"DEMO-C-{n:03d}", f"6{n:05d}", event="A02"))
    demo.settle()


def generate(out: Path) -> list[Path]:
    """Write overview.png and message.png into ``out``; returns their paths."""
    password = secrets.token_urlsafe(12)
    with (
        tempfile.TemporaryDirectory() as home,
        FhirPlatform() as platform,
        DemoEngine(Path(home), platform, [DemoAccount("ops", password, "operator")]) as demo,
        chromium() as driver,
    ):
        _traffic(demo)
        driver.get(f"{demo.url}/login")
        _visible(driver, "#username")
        driver.find_element(By.ID, "username").send_keys("ops")
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
        _visible(driver, "#destinations-table tr[data-key='platform']")
        time.sleep(1.5)
        overview = out / "overview.png"
        _shoot(driver, overview)

        driver.get(f"{demo.url}/messages?control_id=DEMO-A-004")
        _visible(driver, "#messages-table tbody a")
        driver.find_element(By.CSS_SELECTOR, "#messages-table tbody a").click()
        _visible(driver, ".show-payloads")
        driver.find_element(By.CSS_SELECTOR, ".show-payloads").click()
        _visible(driver, "pre.sent")
        driver.find_element(By.ID, "show-raw").click()
        _visible(driver, "#segments")
        message = out / "message.png"
        _shoot(driver, message)
        return [overview, message]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "console")
    for path in generate(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
