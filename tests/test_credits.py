"""What the page says about credits: each job's ``deduction_credit`` in its details, the running total of
what this page made ("This session: N credits"), and under Generate the learned estimate and the balance
Akool reports at ``quota/info`` ("Akool credit: N") for a visitor's own key or the operator of an app that
is not shared, never for strangers on the operator's account. Akool charges what a third party measured
(the simulator: 3 per 1080p job, 4 per 4k, 4 per upscale); the estimate learns it from ``deduction_credit``.
See ``tests/test_credit_balance.py`` for the balance and the warning."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.jobs import JobRecord
from akool_ui.service.identity.clients import ClientPool
from akool_ui.adapters.local.store import JobStore
from akool_ui.bootstrap import assemble_studio
from akool_ui.service import Studio
from akool_ui.service.library.uploads import UploadStore
from akool_ui.settings import Settings
from akool_ui.ui import views
from akool_ui.ui.panels import new_view
from tests.conftest import API_KEY, OTHER_API_KEY
from tests.store_helpers import StoreWithFiles, tracker_on
from akool_ui.adapters.local import LocalBlobs

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
    assert views.session_line(own) == "This session: 1 credit"  # the balance is under Generate now


def test_the_balance_endpoint_is_named_once_by_the_sdk():
    """akool-api.md §9: ``quota/info`` is the account's credit; only the client (and the simulator) name it."""
    naming = [path.relative_to(ROOT).as_posix() for path in (ROOT / "akool_ui").rglob("*.py")
              if "simulator" not in path.parts and "faceswap/quota/info" in path.read_text()]
    assert "akool_ui/akool/client.py" in naming and all(p.startswith("akool_ui/akool/") for p in naming), naming


# --- through the page's handlers, against the simulator over HTTP ---------------------------------------


@pytest.fixture()
def studio(tmp_path, simulator):
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=tmp_path,
                        poll_interval=0.05)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY),
                         make=lambda key: AkoolClient(simulator.base_url, api_key=key))
    studio = assemble_studio(settings, store=StoreWithFiles(tmp_path), clients=clients, uploads=UploadStore(LocalBlobs(tmp_path)))
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
    return _drain(h.create.generate({"prompt": "A kite", "batch_quantity": batch}, view, api_key, BROWSER, None))


def test_the_page_shows_each_jobs_credits_and_the_sessions_total(studio, simulator):
    h, page = _page(studio)
    results = page.results
    last = _generate(h, new_view([]), batch=2)[-1]
    assert "· 3 credits" in last[results.details]  # a 1080p v4 job: 3, as Akool's answer said
    assert last[results.details].endswith("This session: 6 credits")
    view = last[results.view]
    view["selected"] = view["jobs"][0]
    last = _drain(h.create.press_handler("U1")(view, "", BROWSER, None))[-1]
    assert last[results.details].endswith("This session: 10 credits")  # an upscale: 4
    # a new Generate starts a new view; the session's total carries over
    last = _generate(h, last[results.view])[-1]
    assert last[results.details].endswith("This session: 13 credits")
    # a failed job is refunded by Akool (deduction_credit 0), and the total follows
    simulator.sim.fail_next()
    last = _generate(h, last[results.view])[-1]
    assert "This session: 13 credits" in last[results.details]


def test_a_visitor_with_their_own_key_sees_their_balance_under_generate(studio, simulator):
    h, page = _page(studio)
    last = _generate(h, new_view([]), api_key=OTHER_API_KEY)[-1]
    assert "This session: 3 credits" in last[page.results.details]
    line = h.create.cost(1, "1080p", OTHER_API_KEY)[page.form.cost]  # what the page asks once the job ended
    assert line.endswith(f"Akool credit: {simulator.sim.credit(OTHER_API_KEY):,}")
    assert "under Generate" in page.keys.api_key.info


def test_reopening_a_job_from_history_does_not_add_to_the_session(studio):
    h, page = _page(studio)
    last = _generate(h, new_view([]))[-1]
    view = last[page.results.view]
    history = h.history.refresh("", False, "", BROWSER)[page.history.state]

    class Select:
        index = 0

    reopened = _drain(h.history.reopen(history, view, "", BROWSER, Select()))[-1]
    assert reopened[page.results.details].endswith("This session: 3 credits")


def test_the_readme_says_where_the_balance_is():
    readme = (ROOT / "README.md").read_text()
    assert "AKOOL_LIMIT_IMAGES_PER_HOUR" in readme and "AKOOL_DAILY_CREDIT_BUDGET" in readme
    assert "Akool credit: N" in readme and "docs/credits.md" in readme
    assert "faceswap/quota/info" in (ROOT / "docs" / "credits.md").read_text()
