"""The composition root and who owns what: nothing starts in a constructor, everything made is closed."""

from __future__ import annotations

import subprocess
import sys
import threading

from akool_ui.akool.client import AkoolClient
from akool_ui.bootstrap import build_studio
from akool_ui.service.identity.clients import ClientPool
from akool_ui.adapters.local.store import JobStore
from akool_ui.bootstrap import assemble_studio
from akool_ui.service import Studio
from akool_ui.service.library.uploads import UploadStore
from akool_ui.settings import Settings
from tests.conftest import API_KEY, OTHER_API_KEY
from tests.store_helpers import StoreWithFiles, tracker_on
from akool_ui.adapters.local import LocalBlobs


def test_importing_the_service_layer_loads_neither_the_simulator_nor_gradio():
    code = (
        "import sys, akool_ui.service, akool_ui.service.runtime.tracker;"
        "print(sorted(m for m in sys.modules if m.startswith(('akool_ui.simulator', 'gradio', 'akool_ui.ui'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_constructing_a_studio_starts_no_thread(tmp_path, simulator):
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=tmp_path)
    before = {t.ident for t in threading.enumerate()}
    store = StoreWithFiles(tmp_path)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY))
    studio = assemble_studio(settings, store=store, clients=clients, uploads=UploadStore(LocalBlobs(tmp_path)))
    try:
        assert {t.ident for t in threading.enumerate()} == before
    finally:
        studio.close()


def test_a_visitor_key_gets_one_client_which_is_closed_with_the_app(tmp_path, simulator):
    made: list[AkoolClient] = []
    closed: list[AkoolClient] = []

    class Counted(AkoolClient):
        def close(self) -> None:
            closed.append(self)
            super().close()

    def make(key: str) -> AkoolClient:
        made.append(Counted(simulator.base_url, api_key=key))
        return made[-1]

    pool = ClientPool(simulator.base_url, None, make=make, limit=2)
    first = pool.for_key("KeyNumberOne0123456789AB")
    assert pool.for_key("KeyNumberOne0123456789AB") is first and len(made) == 1
    pool.for_key("KeyNumberTwo0123456789AB")
    pool.for_key("KeyNumberThree0123456789")  # over the limit: the least recently used is closed
    assert closed == [first] and len(pool) == 2
    assert "KeyNumberOne" not in repr(pool.__dict__)
    pool.close()
    assert set(closed) == set(made) and len(pool) == 0


def test_build_studio_starts_the_demo_and_close_takes_everything_down(tmp_path):
    settings = Settings.from_env({"AKOOL_CACHE_DIR": str(tmp_path), "AKOOL_DEMO_SPEED": "25"})
    (tmp_path / "uploads").mkdir(parents=True)
    old = tmp_path / "uploads" / ("A" * 43 + ".png")
    old.write_bytes(b"x")
    import os

    os.utime(old, (1, 1))  # decades old: pruned at start
    built = build_studio(settings)
    try:
        assert built.studio.mode == "demo" and built.demo_server is not None
        assert built.studio.base_url == built.demo_server.base_url
        assert not old.exists()
        server_thread = f"simulator-http-{built.demo_server.port}"
        assert server_thread in {t.name for t in threading.enumerate()}
    finally:
        built.close()
    assert server_thread not in {t.name for t in threading.enumerate() if t.is_alive()}


def test_a_cache_from_before_documents_keeps_its_owners_and_its_demo_account(tmp_path, simulator):
    """owner.key held the raw key and demo/account.json the demo's account: both are read as they are,
    or every visitor would lose their history (and the demo its jobs)."""
    import json
    import os

    from akool_ui.service.identity.owners import OwnerHasher

    raw = os.urandom(32)
    (tmp_path / "owner.key").write_bytes(raw)
    os.chmod(tmp_path / "owner.key", 0o600)
    (tmp_path / "demo").mkdir()
    account = {"client_id": "c" * 24, "api_key": "K" * 24}
    (tmp_path / "demo" / "account.json").write_text(json.dumps(account))
    settings = Settings(api_key=API_KEY, base_url=simulator.base_url, base_url_from_env=True, cache_dir=tmp_path)
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=API_KEY))
    studio = assemble_studio(settings, store=JobStore(tmp_path), clients=clients, uploads=UploadStore(tmp_path / "uploads"))
    try:
        browser = "b" * 24
        assert studio.owner_for(None, browser) == OwnerHasher(raw).for_browser(browser, "server")
        assert studio.owner_for(OTHER_API_KEY, None) == OwnerHasher(raw).for_credential(OTHER_API_KEY)
    finally:
        studio.close()
    from akool_ui.adapters.local import LocalDocuments
    from akool_ui.service.identity.demo import load_demo_account

    demo = load_demo_account(LocalDocuments(tmp_path))
    assert (demo.client_id, demo.api_key) == (account["client_id"], account["api_key"])
