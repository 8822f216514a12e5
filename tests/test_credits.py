"""What the page says about credits: each job's ``deduction_credit`` in its details, the running total of
what this page made ("This session: N credits"), and — Akool documents no balance endpoint for this
product — a pointer to Akool's site for a visitor's own balance, never a guessed number."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.jobs import JobRecord
from akool_ui.service.clients import ClientPool
from akool_ui.service.store import JobStore
from akool_ui.service.studio import Studio
from akool_ui.service.uploads import UploadStore
from akool_ui.settings import Settings
from akool_ui.ui import views
from akool_ui.ui.panels import new_view
from tests.conftest import API_KEY, OTHER_API_KEY

BROWSER = "credits-browser-0123456789"
ROOT = Path(__file__).resolve().parents[1]


def _record(job_id: str = "6650a1b2c3d4e5f6a7b8c9d0", *, credits: int | None, kind: str = "generate") -> JobRecord:
    if kind == "button":
        record = JobRecord.create(job_id, "bowner", kind="button", parent_id="6650a1b2c3d4e5f6a7b8c9d1", button="U1")
    else:
        record = JobRecord.create(job_id, "bowner", request={"prompt": "A kite"})
    record.credits = credits
    return record


def test_job_details_show_akools_deduction_when_known():
    assert "· 3 credits" in views.job_details(_record(credits=3))
    one = views.job_details(_record(credits=1))
    assert "· 1 credit" in one and "1 credits" not in one
    assert "credit" not in views.job_details(_record(credits=None))
    assert views.job_summary(_record(credits=2))["credits"] == 2


def test_the_session_line_adds_what_akool_charged_and_marks_estimates():
    assert views.session_line({}) == "" and views.session_line(None) == ""
    known = {"a": views.session_entry(_record(credits=1), own=False),
             "b": views.session_entry(_record(credits=2, kind="button"), own=False)}
    assert views.session_line(known) == "This session: 3 credits"
    guessed = {**known, "c": views.session_entry(_record(credits=None, kind="button"), own=False)}
    assert views.session_line(guessed) == "This session: about 5 credits"  # 2 per press when Akool did not say
    own = {"a": views.session_entry(_record(credits=1), own=True)}
    assert views.session_line(own) == f"This session: 1 credit · {views.BALANCE_HINT}"
    assert "Akool's site" in views.BALANCE_HINT


def test_no_balance_endpoint_is_invented():
    """akool-api.md §6: the credit endpoint is outside this product's documented API."""
    for path in (ROOT / "akool_ui").rglob("*.py"):
        if "simulator" not in path.parts:
            assert "quota/info" not in path.read_text(), path


# --- through the page's handlers, against the simulator over HTTP ---------------------------------------


@pytest.fixture()
def studio(tmp_path, simulator):
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=tmp_path,
                        poll_interval=0.05)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY),
                         make=lambda key: AkoolClient(simulator.base_url, api_key=key))
    studio = Studio(settings, store=JobStore(tmp_path), clients=clients, uploads=UploadStore(tmp_path / "uploads"))
    yield studio
    studio.close()


def _page(studio):
    import gradio as gr

    from akool_ui.ui.handlers import StudioHandlers
    from akool_ui.ui.layout import render_page

    with gr.Blocks():
        page = render_page(studio, browser_secret="0" * 32)
    return StudioHandlers(studio, page), page


def _drain(agen) -> list:
    async def collect():
        return [update async for update in agen]

    # In a thread of its own: Playwright's sync API (the e2e tests) may keep a loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, collect()).result()


def _generate(h, view, *, batch: int = 1, api_key: str = "") -> list:
    return _drain(h.create.generate("A kite", "", None, "", "1:1", "1080p", batch, 0.5, "Auto", view, api_key,
                                    BROWSER, None))


def test_the_page_shows_each_jobs_credits_and_the_sessions_total(studio, simulator):
    h, page = _page(studio)
    results = page.results
    last = _generate(h, new_view([]), batch=2)[-1]
    assert "· 1 credit" in last[results.details]  # v4: 1 per image, as Akool's answer said
    assert last[results.details].endswith("This session: 2 credits")
    view = last[results.view]
    view["selected"] = view["jobs"][0]
    last = _drain(h.create.press_handler("U1")(view, "", BROWSER, None))[-1]
    assert last[results.details].endswith("This session: 4 credits")  # a press: 2
    # a new Generate starts a new view; the session's total carries over
    last = _generate(h, last[results.view])[-1]
    assert last[results.details].endswith("This session: 5 credits")
    # a failed job is refunded by Akool (deduction_credit 0), and the total follows
    simulator.sim.fail_next()
    last = _generate(h, last[results.view])[-1]
    assert "This session: 5 credits" in last[results.details]


def test_a_visitor_with_their_own_key_is_pointed_to_akool_for_their_balance(studio):
    h, page = _page(studio)
    last = _generate(h, new_view([]), api_key=OTHER_API_KEY)[-1]
    details = last[page.results.details]
    assert "This session: 1 credit · your account's remaining credit is shown on Akool's site" in details
    assert "Akool's site" in page.keys.api_key.info


def test_reopening_a_job_from_history_does_not_add_to_the_session(studio):
    h, page = _page(studio)
    last = _generate(h, new_view([]))[-1]
    view = last[page.results.view]
    history = h.history.refresh("", False, "", BROWSER)[page.history.state]

    class Select:
        index = 0

    reopened = _drain(h.history.reopen(history, view, "", BROWSER, Select()))[-1]
    assert reopened[page.results.details].endswith("This session: 1 credit")


def test_the_readme_says_where_the_balance_is():
    readme = (ROOT / "README.md").read_text()
    assert "AKOOL_LIMIT_IMAGES_PER_HOUR" in readme and "AKOOL_DAILY_CREDIT_BUDGET" in readme
    assert "Akool's site" in readme
