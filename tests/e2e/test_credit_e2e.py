"""The Akool credit on the page (issue 20), in Chromium at desktop and phone size: the operator of a local
app sees "Akool credit: N" under Generate and sees it drop after a job; a visitor's own key shows that
key's balance, and a Generate it cannot pay is warned about beside the price and held with one sentence;
strangers on a shared app never see the operator's balance.

The app runs against a simulator in this process (``AKOOL_BASE_URL``), whose accounts' credit the tests
set; screenshots go to E2E_SCREENSHOT_DIR (or docs/screenshots/) as ``20-credit-*.png``.
"""

from __future__ import annotations

import re
import secrets

import pytest

from akool_ui.simulator import SimulatorServer
from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 60_000
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
OPERATOR_KEY = "OperatorKey0123456789abc"  # 24 characters, like an Akool key


@pytest.fixture(scope="module")
def sim():
    with SimulatorServer(api_key=OPERATOR_KEY, speed=25.0) as server:
        yield server


def _app(folder, sim, **env: str) -> AppProcess:
    return AppProcess(folder / "cache", folder / "app.log", env={
        "AKOOL_BASE_URL": sim.base_url, "AKOOL_API_KEY": OPERATOR_KEY, "AKOOL_POLL_SCHEDULE": "steady", **env,
    }).start()


@pytest.fixture(scope="module")
def local_app(sim, tmp_path_factory):
    """The operator's own app on their machine (not shared)."""
    app = _app(tmp_path_factory.mktemp("credit-local"), sim)
    yield app
    app.stop()
    print(app.log_tail(20))


@pytest.fixture(scope="module")
def shared_app(sim, tmp_path_factory):
    """The same account behind a shared link (AKOOL_SHARED: strangers come)."""
    app = _app(tmp_path_factory.mktemp("credit-shared"), sim, AKOOL_SHARED="1")
    yield app
    app.stop()
    print(app.log_tail(20))


def _cost_says(page, text: str, timeout: int = 30_000) -> None:
    page.wait_for_function("(t) => document.querySelector('#generate-cost').innerText.includes(t)", arg=text,
                           timeout=timeout)


def _toast(page) -> str:
    toast = page.locator("[data-testid='toast-text']").last
    toast.wait_for(timeout=15_000)
    return toast.inner_text().strip()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_operator_sees_the_balance_drop_after_a_job(open_studio, sim, local_app, screenshots, size):
    page = open_studio(local_app.url, VIEWPORTS[size])
    _cost_says(page, "Akool credit: ")
    cost = page.locator("#generate-cost").inner_text()
    shown = int(re.search(r"Akool credit: ([\d,]+)", cost).group(1).replace(",", ""))
    assert shown == sim.sim.credit(OPERATOR_KEY)  # what Akool (the simulator) says this account has
    assert "about 3 credits" in cost and "⚠️" not in cost  # 1080p: 3 per job (measured, or learned)
    page.locator("#prompt textarea").fill(f"A lighthouse on credit, {size}")
    page.locator("#generate").click()
    page.wait_for_function("() => /done/.test(document.querySelector('#status').innerText)", timeout=JOB_TIMEOUT)
    _cost_says(page, f"Akool credit: {shown - 3:,}")  # read again once the job ended: Akool charged 3
    assert sim.sim.credit(OPERATOR_KEY) == shown - 3
    page.locator("#generate-cost").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / f"20-credit-operator-{size}.png"))
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_an_own_key_shows_its_balance_and_a_generate_it_cannot_pay_is_warned_about(
    open_studio, sim, local_app, screenshots, size,
):
    key = "Visitor" + secrets.token_hex(8) + "v"
    sim.sim.add_account(api_key=key, credit=5)
    page = open_studio(local_app.url, VIEWPORTS[size])
    _cost_says(page, "Akool credit:")  # the operator's, until a key is entered
    box = page.locator("#api-key input")
    box.fill(key)
    box.press("Enter")
    _cost_says(page, "Akool credit: 5")
    batch = page.locator("#batch input[type=number]")
    batch.fill("2")
    batch.press("Enter")
    _cost_says(page, "⚠️ About 6 credits is more than the 5 left")  # before anything is pressed
    before = sim.sim.stats()["creates"]
    page.locator("#prompt textarea").fill("Two kites I cannot pay for")
    page.locator("#generate").click()
    toast = _toast(page)
    assert toast == ("This needs about 6 credits and your Akool account has 5 credits left, so Akool will "
                     "probably refuse it: choose fewer jobs or 1080p, top up at Akool, or press Generate again "
                     "to send it anyway.")
    assert sim.sim.stats()["creates"] == before  # held: nothing was sent
    assert page.locator("#prompt textarea").input_value() == "Two kites I cannot pay for"
    page.screenshot(path=str(screenshots / f"20-credit-warning-{size}.png"))
    assert key not in page.content()  # the key stays in its password box, never in the page's text
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_strangers_on_a_shared_app_never_see_the_operators_balance(open_studio, sim, shared_app, size):
    page = open_studio(shared_app.url, VIEWPORTS[size])
    _cost_says(page, "about 3 credits")
    page.locator("#prompt textarea").fill(f"A stranger's kite, {size}")
    page.locator("#generate").click()
    page.wait_for_function("() => /done/.test(document.querySelector('#status').innerText)", timeout=JOB_TIMEOUT)
    page.wait_for_function("() => document.querySelector('#job-details').innerText.includes('This session')")
    text = page.locator("body").inner_text()
    assert "Akool credit" not in text and str(sim.sim.credit(OPERATOR_KEY)) not in text
    page.context.close()
