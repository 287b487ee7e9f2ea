"""The console in a real headless Chromium against a real engine (MLLP channels of two
establishments, the sandbox FHIR platform as destination): the acceptance scenarios of
issue 13. One engine and one browser for the module; the tests run in order and build on
the messages the previous ones sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from engine.console.web.demo import (
    ESTABLISHMENT_A,
    ESTABLISHMENT_B,
    DemoAccount,
    DemoEngine,
    adt,
)
from engine.sandbox.fhir_platform import FhirPlatform
from tests.support.browser import chromium, find, require_browser, sign_in, wait_until

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
ACCOUNTS = [
    DemoAccount("admin", PASSWORD, "admin"),
    DemoAccount("op_a", PASSWORD, "operator", (ESTABLISHMENT_A,)),
    DemoAccount("viewer_a", PASSWORD, "viewer", (ESTABLISHMENT_A,)),
    DemoAccount("op_b", PASSWORD, "operator", (ESTABLISHMENT_B,)),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEngine]:
    require_browser()
    with (
        FhirPlatform() as platform,
        DemoEngine(tmp_path_factory.mktemp("console"), platform, ACCOUNTS) as started,
    ):
        yield started


@pytest.fixture(scope="module")
def driver(demo: DemoEngine) -> Iterator[webdriver.Chrome]:
    with chromium() as started:
        yield started


IPP = "WEBIPP777"


@pytest.fixture(scope="module")
def users(demo: DemoEngine) -> Iterator[Callable[[str], Api]]:
    """The API signed in as a user (one client per user, closed at the end)."""
    clients: dict[str, Api] = {}

    def client(user: str) -> Api:
        if user not in clients:
            clients[user] = Api(demo.url, user)
        return clients[user]

    yield client
    for c in clients.values():
        c.http.close()


@pytest.fixture(scope="module")
def patient_messages(demo: DemoEngine, users: Callable[[str], Api]) -> list[dict[str, Any]]:
    """Two messages of patient IPP (A01, A02) on establishment A, delivered."""
    for n, event in enumerate(("A01", "A02")):
        assert b"MSA|AA|" in demo.send("mllp_a", adt(f"WEB-PAT-{n}", IPP, event=event))
    api = users("op_a")
    return [message_by_control_id(api, f"WEB-PAT-{n}") for n in range(2)]


class Api:
    """The admin API as one signed-in user sees it (session cookie + CSRF token)."""

    def __init__(self, base_url: str, user: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/api/v1", timeout=10)
        resp = self.http.post("/session", json={"username": user, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        self.csrf = resp.json()["csrf_token"]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: Any = None, *, csrf: bool = True) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.http.post(path, json=body or {}, headers=headers)


def poll(check: Callable[[], T | None], timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def message_by_control_id(api: Api, control_id: str) -> dict[str, Any]:
    """The message with this control id once all its deliveries are sent or dead."""

    def settled() -> dict[str, Any] | None:
        items = api.get("/messages", control_id=control_id).json()["items"]
        if len(items) != 1:
            return None
        detail: dict[str, Any] = api.get(f"/messages/{items[0]['id']}").json()
        deliveries = detail["deliveries"]
        done = deliveries and all(d["state"] in ("sent", "dead") for d in deliveries)
        return detail if done else None

    return poll(settled)


def cell(driver: webdriver.Chrome, table: str, key: str, col: str) -> str:
    """The text of one overview cell (read at once: the page refreshes rows in place)."""
    text = driver.execute_script(
        "const c = document.querySelector(arguments[0]); return c ? c.innerText.trim() : ''",
        f"#{table}-table tr[data-key='{key}'] [data-col='{col}']",
    )
    return str(text)


def overview_link(driver: webdriver.Chrome, table: str, key: str, col: str) -> str:
    """The href of an overview count link."""
    href = driver.execute_script(
        "const a = document.querySelector(arguments[0]); return a ? a.href : ''",
        f"#{table}-table tr[data-key='{key}'] [data-col='{col}'] a",
    )
    return str(href)


def no_script_errors(driver: webdriver.Chrome) -> None:
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    # the API's refusals (401 before sign-in, 403/404 on purpose) are logged as
    # failed resources by Chromium: only script errors count here
    assert [e for e in errors if e.get("source") != "network"] == []


def test_sign_in_and_the_overview_updates_while_messages_flow(
    demo: DemoEngine, driver: webdriver.Chrome
) -> None:
    driver.get(f"{demo.url}/")
    find(driver, "#username").send_keys("op_a")  # sent to /login by the overview
    find(driver, "#password").send_keys("wrong password")
    find(driver, "form.login button[type=submit]").click()
    assert "Wrong user name or password" in find(driver, "#login-error .notice").text

    sign_in(driver, demo.url, "op_a", PASSWORD)
    assert "op_a (operator" in find(driver, "#who .user").text
    wait_until(driver, lambda d: cell(d, "destinations", "platform", "status") == "ok")
    assert cell(driver, "channels", "mllp_a", "status") == "listening"
    assert cell(driver, "destinations", "platform", "sent") == "0"
    driver.execute_script("window.__sameDocument = true")

    for n in range(3):
        ack = demo.send("mllp_a", adt(f"WEB-FLOW-{n}", f"FLOW{n}"))
        assert b"MSA|AA|" in ack

    wait_until(driver, lambda d: cell(d, "destinations", "platform", "sent") == "3", 20)
    wait_until(driver, lambda d: cell(d, "channels", "mllp_a", "routed") == "3", 20)
    assert driver.execute_script("return window.__sameDocument") is True  # no reload
    link = overview_link(driver, "destinations", "platform", "sent")
    assert "destination=platform" in link and "delivery_state=sent" in link
    # the sparkline is drawn from /api/v1/activity once the minute's figures are in
    wait_until(
        driver,
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#destinations-table tr[data-key='platform'] svg.spark path"
        ),
        20,
    )
    no_script_errors(driver)


def test_find_a_patients_messages_by_ipp_and_see_the_bundle_sent(
    demo: DemoEngine, driver: webdriver.Chrome, patient_messages: list[dict[str, Any]]
) -> None:
    ipp = IPP
    sign_in(driver, demo.url, "op_a", PASSWORD)
    driver.get(f"{demo.url}/messages")
    find(driver, "#ipp").send_keys(ipp)
    find(driver, "form.filters button[type=submit]").click()
    rows = wait_until(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages-table tbody tr")
    )
    controls = sorted(r.find_elements(By.TAG_NAME, "td")[4].text for r in rows)
    assert controls == ["WEB-PAT-0", "WEB-PAT-1"]
    assert ipp not in driver.current_url and ipp not in driver.title
    assert ipp in driver.execute_script("return JSON.stringify(sessionStorage)")

    rows[0].find_element(By.CSS_SELECTOR, "a").click()
    find(driver, "section.delivery[data-destination='platform'] .show-payloads").click()
    sent = find(driver, "pre.sent")
    assert '"resourceType": "Bundle"' in sent.text and ipp in sent.text
    assert ipp not in driver.current_url and ipp not in driver.title
    find(driver, "#show-raw").click()
    assert find(driver, "#segments").text.startswith("Segment")
    assert "PID" in find(driver, "#segments").text

    driver.back()  # the search comes back with its patient filter (kept by its history entry)
    wait_until(
        driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#messages-table tr[data-id]")) == 2
    )
    assert find(driver, "#ipp").get_attribute("value") == ipp
    driver.get(f"{demo.url}/messages?channel=mllp_a")  # a fresh link starts without it
    wait_until(driver, lambda d: d.execute_script("return history.state") is None)
    find(driver, "#messages-table")
    assert find(driver, "#ipp").get_attribute("value") == ""
    assert "patient identifier" not in find(driver, "#results").text
    no_script_errors(driver)


def test_the_browser_pages_with_the_cursor_in_the_address(
    demo: DemoEngine, driver: webdriver.Chrome, patient_messages: list[dict[str, Any]]
) -> None:
    sign_in(driver, demo.url, "op_a", PASSWORD)
    driver.get(f"{demo.url}/messages?channel=mllp_a&limit=1")

    def shown(d: webdriver.Chrome) -> list[str]:
        ids = d.execute_script(
            "return [...document.querySelectorAll('#messages-table tr[data-id]')]"
            ".map(r => r.dataset.id)"
        )
        return list(ids)

    first = wait_until(driver, shown)
    assert len(first) == 1 and find(driver, "#limit").get_attribute("value") == "1"
    find(driver, "#next-page").click()
    wait_until(driver, lambda d: "before=" in d.current_url)
    second = wait_until(driver, lambda d: (ids := shown(d)) and ids != first and ids)
    assert len(second) == 1 and second[0] < first[0]  # ULIDs: older sorts first
    assert "channel=mllp_a" in driver.current_url and "limit=1" in driver.current_url
    driver.back()
    wait_until(driver, lambda d: shown(d) == first)


def test_a_dead_letter_is_replayed_from_the_ui_and_audited(
    demo: DemoEngine, driver: webdriver.Chrome, users: Callable[[str], Api]
) -> None:
    api = users("op_a")
    sign_in(driver, demo.url, "op_a", PASSWORD)
    demo.platform.down()
    try:
        demo.send("mllp_a", adt("WEB-DEAD-1", "DEADIPP1"))
        dead = message_by_control_id(api, "WEB-DEAD-1")
    finally:
        demo.platform.up()
    assert [d["state"] for d in dead["deliveries"]] == ["dead"]

    driver.get(f"{demo.url}/")
    wait_until(driver, lambda d: cell(d, "destinations", "platform", "dead") == "1", 20)
    assert "connection" in cell(driver, "destinations", "platform", "last-error")
    assert "recovered" not in cell(driver, "destinations", "platform", "last-error")
    driver.get(overview_link(driver, "destinations", "platform", "dead"))  # as a click does
    row = find(driver, f"#messages-table tr[data-id='{dead['id']}'] a")
    row.click()
    find(driver, "section.delivery[data-state='dead']")
    find(driver, "#replay-preview").click()
    preview = find(driver, "#replay-preview-result")
    assert "adt_to_fr_core" in preview.text and "platform" in preview.text
    find(driver, "#replay-confirm").click()
    # the page follows the replayed delivery until it settles: no reload needed
    find(driver, "section.delivery[data-state='sent']", timeout=30)
    wait_until(driver, lambda d: "Following" not in d.find_element(By.ID, "app").text)
    assert "Replayed" in find(driver, "#app > .notice.ok").text

    driver.get(f"{demo.url}/")  # is it fixed? the last error is marked so
    wait_until(
        driver, lambda d: "recovered" in cell(d, "destinations", "platform", "last-error"), 20
    )

    driver.get(f"{demo.url}/audit")
    table = find(driver, "#audit-table")
    replays = [
        r.text
        for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
        if " replay " in f" {r.text} " and dead["id"] in r.text
    ]
    assert replays and all("op_a" in r for r in replays)
    no_script_errors(driver)


def test_a_dead_letter_is_released_from_the_ui(
    demo: DemoEngine, driver: webdriver.Chrome, users: Callable[[str], Api]
) -> None:
    api = users("op_a")
    demo.platform.down()
    try:
        demo.send("mllp_a", adt("WEB-DEAD-2", "DEADIPP2"))
        dead = message_by_control_id(api, "WEB-DEAD-2")
    finally:
        demo.platform.up()
    sign_in(driver, demo.url, "op_a", PASSWORD)
    driver.get(f"{demo.url}/messages/{dead['id']}")
    find(driver, "section.delivery[data-state='dead'] button.release").click()
    assert "Released at platform" in find(driver, "#app > .notice.ok").text
    assert not driver.find_elements(By.CSS_SELECTOR, "button.release")
    (delivery,) = api.get(f"/messages/{dead['id']}").json()["deliveries"]
    assert delivery["released"] is True and delivery["state"] == "dead"
    entries = api.get("/audit", action="release").json()["items"]
    assert [(e["object"], e["outcome"]) for e in entries] == [(delivery["id"], "ok")]


def test_a_viewer_cannot_open_a_payload(
    demo: DemoEngine,
    driver: webdriver.Chrome,
    users: Callable[[str], Api],
    patient_messages: list[dict[str, Any]],
) -> None:
    api = users("viewer_a")
    message = patient_messages[0]
    (delivery,) = message["deliveries"]

    sign_in(driver, demo.url, "viewer_a", PASSWORD)
    assert not driver.find_elements(By.CSS_SELECTOR, "#channels-table button")
    driver.get(f"{demo.url}/messages/{message['id']}")
    find(driver, "section.delivery")
    assert not driver.find_elements(By.CSS_SELECTOR, ".show-payloads, #show-raw, #actions")
    assert "need the operator role" in find(driver, "#raw").text
    driver.get(f"{demo.url}/messages")
    find(driver, "#messages-table")
    assert not driver.find_elements(By.CSS_SELECTOR, "#ipp")

    assert api.get(f"/deliveries/{delivery['id']}/payloads").status_code == 403
    assert api.get(f"/messages/{message['id']}/raw").status_code == 403
    assert api.get("/messages", ipp=IPP).status_code == 403
    assert api.post(f"/messages/{message['id']}/replay", {"dry_run": True}).status_code == 403


def test_a_user_of_establishment_b_neither_sees_nor_replays_establishment_a(
    demo: DemoEngine,
    driver: webdriver.Chrome,
    users: Callable[[str], Api],
    patient_messages: list[dict[str, Any]],
) -> None:
    ack = demo.send("mllp_b", adt("WEB-B-1", "BIPP1"))
    assert b"MSA|AA|" in ack
    op_b, op_a = users("op_b"), users("op_a")
    mine = message_by_control_id(op_b, "WEB-B-1")
    theirs = patient_messages[0]

    sign_in(driver, demo.url, "op_b", PASSWORD)
    wait_until(driver, lambda d: cell(d, "channels", "mllp_b", "status") == "listening")
    assert cell(driver, "channels", "mllp_a", "status") == ""
    assert cell(driver, "destinations", "platform", "status") == ""
    driver.get(f"{demo.url}/messages")
    ids = [
        r.get_attribute("data-id")
        for r in find(driver, "#messages-table").find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert ids == [mine["id"]]
    driver.get(f"{demo.url}/messages/{theirs['id']}")
    assert "Not found" in find(driver, "#app .notice.error").text

    assert op_b.get(f"/messages/{theirs['id']}").status_code == 404
    assert op_b.get(f"/messages/{theirs['id']}/raw").status_code == 404
    delivery = theirs["deliveries"][0]["id"]
    assert op_b.get(f"/deliveries/{delivery}/payloads").status_code == 404
    assert op_b.post(f"/messages/{theirs['id']}/replay").status_code == 404
    assert op_b.post("/destinations/platform/pause").status_code == 404
    listed = op_b.get("/messages", limit=200).json()["items"]
    assert [m["id"] for m in listed] == [mine["id"]]
    assert op_a.get(f"/messages/{mine['id']}").status_code == 404
    # and the CSRF token is required of a session for any state change
    assert op_b.post(f"/messages/{mine['id']}/replay", csrf=False).status_code == 403


def test_an_operator_pauses_and_resumes_a_destination_from_the_overview(
    demo: DemoEngine, driver: webdriver.Chrome, users: Callable[[str], Api]
) -> None:
    sign_in(driver, demo.url, "op_a", PASSWORD)
    row = "#destinations-table tr[data-key='platform']"
    wait_until(driver, lambda d: cell(d, "destinations", "platform", "action") == "Pause")
    find(driver, f"{row} [data-col='action'] button").click()
    wait_until(driver, lambda d: cell(d, "destinations", "platform", "status") == "paused")
    # the row was redrawn; keyboard focus stays on its action, now "Resume"
    wait_until(driver, lambda d: d.switch_to.active_element.text == "Resume")
    assert "Pause platform: done" in find(driver, ".actions-out .notice").text
    find(driver, f"{row} [data-col='action'] button").click()  # now "Resume"
    wait_until(driver, lambda d: cell(d, "destinations", "platform", "status") != "paused")
    actions = [
        (e["action"], e["object"], e["outcome"])
        for e in users("op_a").get("/audit", object="platform").json()["items"]
    ]
    assert ("destination.pause", "platform", "ok") in actions
    assert ("destination.resume", "platform", "ok") in actions
    no_script_errors(driver)


def test_an_admin_creates_an_account_and_a_token(
    demo: DemoEngine, driver: webdriver.Chrome
) -> None:
    sign_in(driver, demo.url, "admin", PASSWORD)
    driver.get(f"{demo.url}/admin")
    find(driver, "#acc-name").send_keys("night_shift")
    find(driver, "#acc-password").send_keys("a long enough password")
    find(driver, "#acc-est").send_keys(ESTABLISHMENT_B)
    find(driver, "form[aria-label='New account'] button[type=submit]").click()
    wait_until(driver, lambda d: "night_shift" in d.find_element(By.ID, "app").text)
    find(driver, "#tok-label").send_keys("nightly export")
    find(driver, "form[aria-label='New API token'] button[type=submit]").click()
    secret = find(driver, "#token-secret").text
    assert secret.startswith("pas_")
    with httpx.Client(base_url=f"{demo.url}/api/v1") as script:
        resp = script.get("/overview", headers={"Authorization": f"Bearer {secret}"})
        assert resp.status_code == 200 and resp.json()["channels"]
    driver.get(f"{demo.url}/audit")
    export = find(driver, "#audit-export").get_attribute("href")
    assert export.endswith("/api/v1/audit/export")
    assert "account.create" in find(driver, "#audit-table").text
    no_script_errors(driver)


def test_the_overview_keeps_its_figures_while_the_console_is_away(
    demo: DemoEngine, driver: webdriver.Chrome
) -> None:
    sign_in(driver, demo.url, "op_a", PASSWORD)
    wait_until(driver, lambda d: cell(d, "channels", "mllp_a", "status") == "listening")
    demo.stop_console()
    try:
        warning = find(driver, ".updated.stale .notice.error", timeout=20)
        assert "Could not refresh" in warning.text and "retrying" in warning.text
        assert cell(driver, "channels", "mllp_a", "status") == "listening"  # still shown
        assert "stale-data" in find(driver, "#app").get_attribute("class")
    finally:
        demo.start_console()
    wait_until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".updated.stale"), 20)
    assert "stale-data" not in find(driver, "#app").get_attribute("class")
