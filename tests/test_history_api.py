"""``/history`` with its filters (issue 20) over gradio_client, against the running demo app: each
field, the date, the views (favourites, a board), paging through a narrow search, the old positional
call, and one sentence for a bad value."""

from __future__ import annotations

import datetime as dt
import gc

import pytest

from tests.app_helpers import running_demo_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

pytestmark = pytest.mark.slow

SESSION = "history-filter-session-01"  # a browser id's shape: the API caller's own history


def _ids(client, limit: int = 2, **filters) -> list[str]:
    """Every page of /history with these filters, joined (each page at most ``limit``)."""
    ids, cursor = [], ""
    for _ in range(50):
        page = client.predict(session=SESSION, limit=limit, cursor=cursor, api_name="/history", **filters)
        assert len(page["jobs"]) <= limit
        ids += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"] or ""
        if not cursor:
            return ids
    raise AssertionError("paging never ended")


def test_history_filters_by_each_field_date_and_view_and_pages(tmp_path):
    with running_demo_app(tmp_path / "cache") as running:
        client = Client(running.local_url, verbose=False)
        try:
            _check_filters(running, client)
        finally:
            client.close()
            del client
            gc.collect()  # the client's executors shut down when it is collected: no thread outlives the run


def _check_filters(running, client) -> None:
    """Four jobs of different settings, then every filter over them."""
    def make(prompt: str, **values) -> str:
        [job] = client.predict(prompt=prompt, session=SESSION, api_name="/generate", **values)["jobs"]
        return job["id"]

    wide = make("a wide harbour", scale="16:9", negative_prompt="fog, blur")
    sharp = make("a sharp harbour", resolution="4k")
    tall = make("a tall tower", scale="9:16", model_name="wavespeed-ai/flux-krea-dev-lora")
    plain = make("a plain field")
    newest_first = [plain, tall, sharp, wide]
    assert _ids(client, limit=3) == newest_first
    assert _ids(client, query="harbour") == [sharp, wide]
    assert _ids(client, negative_prompt="FOG") == [wide]
    assert _ids(client, scale="16:9") == [wide] and _ids(client, scale="9:16") == [tall]
    assert _ids(client, resolution="4k") == [sharp]
    assert _ids(client, model="wavespeed-ai/flux-krea-dev-lora") == [tall]
    assert _ids(client, limit=1, model="Auto") == [plain, sharp, wide]
    assert _ids(client, limit=1, query="harbour", resolution="1080p") == [wide]
    today = dt.datetime.now(dt.timezone.utc).date()
    assert _ids(client, date_from=today.isoformat(), date_to=today.isoformat()) == newest_first
    assert _ids(client, date_to=(today - dt.timedelta(days=1)).isoformat()) == []
    assert _ids(client, date_from=(today + dt.timedelta(days=1)).isoformat()) == []
    # the views: favourites and a board made on the page (through the Studio, for this API owner)
    studio = running.studio
    owner = studio.owner_for(None, SESSION)
    studio.set_favourite(owner, tall, True)
    board = studio.create_board(owner, "Harbours")
    studio.add_to_board(owner, board.id, [wide, sharp])
    assert _ids(client, view="favourites") == [tall]
    assert _ids(client, limit=1, view=board.id) == [sharp, wide]
    assert _ids(client, view=board.id, resolution="4k") == [sharp]
    # the old positional call (api_key, session, cursor, limit) still works
    assert [j["id"] for j in client.predict("", SESSION, "", 20, api_name="/history")["jobs"]] == newest_first
    for bad, sentence in (({"date_from": "yesterday"}, "YYYY-MM-DD"), ({"view": "b000000000000"}, "no longer exists"),
                          ({"scale": 5}, "must be text")):
        with pytest.raises(AppError, match=sentence):
            client.predict(session=SESSION, api_name="/history", **bad)
