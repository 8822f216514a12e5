"""The balance and the learned estimate in the service, against the simulator over HTTP: the balance per
credential (kept a minute, read again after each job of that credential ends), shown for a visitor's own
key and the operator of an app that is not shared but never to strangers on a shared link, the estimate
learned from Akool's ``deduction_credit`` per kind and resolution, and a Generate over the balance asked
about once."""

from __future__ import annotations

import secrets

import pytest

from akool_ui.adapters.local import LocalBlobs, LocalDocuments
from akool_ui.akool.client import AkoolClient
from akool_ui.akool.models import ImageRequest
from akool_ui.bootstrap import assemble_studio
from akool_ui.jobs import JobRecord, RecordState
from akool_ui.service import NotEnoughCredit
from akool_ui.service.identity.clients import ClientPool
from akool_ui.service.library.uploads import UploadStore
from akool_ui.service.quotas.balances import CreditBalances
from akool_ui.service.quotas.costs import COSTS_DOCUMENT, KEEP_PER_KIND, CreditCosts
from akool_ui.simulator import jobbook
from akool_ui.settings import Settings
from tests.store_helpers import StoreWithFiles

BROWSER = "balance-browser-0123456789"


def _key() -> str:
    return "Balance" + secrets.token_hex(8) + "x"  # 24 characters: an account of this test's own


def _studio(tmp_path, simulator, server_key: str, *, shared: bool = False):
    settings = Settings(api_key=server_key, base_url=simulator.base_url, base_url_from_env=True, cache_dir=tmp_path,
                        poll_interval=0.05, shared=shared, limit_overrides={"images_per_hour": 0} if shared else {})
    clients = ClientPool(simulator.base_url, AkoolClient(simulator.base_url, api_key=server_key),
                         make=lambda key: AkoolClient(simulator.base_url, api_key=key))
    return assemble_studio(settings, store=StoreWithFiles(tmp_path), clients=clients,
                           uploads=UploadStore(LocalBlobs(tmp_path)))


@pytest.fixture()
def operator(tmp_path, simulator):
    """A local app (not shared) on an account of its own with 50 credits."""
    key = _key()
    simulator.sim.add_account(api_key=key, credit=50)
    studio = _studio(tmp_path, simulator, key)
    studio.server_key = key
    yield studio
    studio.close()


def _run(studio, request: ImageRequest, *, api_key: str | None = None) -> list[JobRecord]:
    owner = studio.owner_for(api_key, BROWSER)
    records = studio.submit(request, api_key=api_key, owner=owner)
    subscription = studio.subscribe([r.id for r in records])
    while not subscription.done:
        subscription.get(timeout=5)
    subscription.close()
    return [studio.get(r.id, owner) for r in records]


def test_the_operator_sees_the_balance_and_it_is_read_again_after_each_job(operator, simulator):
    assert operator.shows_balance(None) and operator.credit_balance(None) == 50
    simulator.sim.set_credit(operator.server_key, 40)  # spent elsewhere: kept a minute, not asked again
    assert operator.credit_balance(None) == 50
    (done,) = _run(operator, ImageRequest(prompt="a kite", resolution="4k"))
    assert done.state is RecordState.SUCCEEDED and done.credits == 4
    assert operator.credit_balance(None) == 36  # the job ended: read again (40 less its 4)
    assert simulator.sim.stats()["quota"] >= 2


def test_after_a_4k_job_the_estimate_for_4k_is_what_akool_charged(operator, simulator, monkeypatch):
    before = operator.credit_estimate(2, "4k")
    assert (before.per_job, before.total) == (4, 8)  # the measured figure before anything is learned
    _run(operator, ImageRequest(prompt="a 4k kite", resolution="4k"))
    learned = operator.storage.documents.read(COSTS_DOCUMENT).value
    assert list(learned["create/4k"].values()) == [4.0]
    assert operator.credit_estimate(2, "4k").total == 8 and operator.credit_estimate(1, "1080p").per_job == 3
    # Akool charging something else is learned too (the simulator's price list, not requests, is changed)
    monkeypatch.setitem(jobbook.RESOLUTION_CREDITS, "1080p", 5)
    for _ in range(2):
        _run(operator, ImageRequest(prompt="a dearer kite", resolution="1080p"))
    assert operator.credit_estimate(3, "1080p").total == 15
    assert operator.credit_estimate(1, "4k").per_job == 4  # each resolution apart


def test_presses_are_learned_as_upscale_and_variation(operator, simulator, monkeypatch):
    (parent,) = _run(operator, ImageRequest(prompt="a kite", resolution="1080p"))
    owner = operator.owner_for(None, BROWSER)
    monkeypatch.setattr(jobbook, "UPSCALE_CREDITS", 6)
    for button in ("U1", "V1"):
        child = operator.press(parent.id, button, api_key=None, owner=owner)
        subscription = operator.subscribe(child.id)
        while not subscription.done:
            subscription.get(timeout=5)
        subscription.close()
    assert operator.costs.per_job("upscale", None) == 6
    assert operator.costs.per_job("variation", "1080p") == 3  # its parent's resolution
    assert operator.credit_estimate(1, "1080p").per_press == 6


def test_strangers_on_a_shared_app_never_see_the_operators_balance(tmp_path, simulator):
    server_key, own_key = _key(), _key()
    simulator.sim.add_account(api_key=server_key, credit=2)
    simulator.sim.add_account(api_key=own_key, credit=77)
    studio = _studio(tmp_path, simulator, server_key, shared=True)
    try:
        assert not studio.shows_balance(None) and studio.credit_balance(None) is None
        before = simulator.sim.stats()["quota"]
        owner = studio.owner_for(None, BROWSER)
        request = ImageRequest(prompt="more than the operator has", resolution="4k")
        studio.check_credit(request, api_key=None, owner=owner)  # nothing said: the balance is not theirs
        assert simulator.sim.stats()["quota"] == before  # and it was not even read
        assert studio.shows_balance(own_key) and studio.credit_balance(own_key) == 77  # their own key: theirs
    finally:
        studio.close()


def test_a_generate_over_the_balance_is_asked_about_once_then_sent(tmp_path, simulator):
    server_key, own_key = _key(), _key()
    simulator.sim.add_account(api_key=server_key)
    simulator.sim.add_account(api_key=own_key, credit=5)
    studio = _studio(tmp_path, simulator, server_key)
    try:
        owner = studio.owner_for(own_key, None)
        request = ImageRequest(prompt="two 1080p kites", resolution="1080p", batch_quantity=2)
        with pytest.raises(NotEnoughCredit) as held:
            studio.check_credit(request, api_key=own_key, owner=owner)
        assert held.value.user_message == (
            "This needs about 6 credits and your Akool account has 5 credits left, so Akool will probably refuse "
            "it: choose fewer jobs or 1080p, top up at Akool, or press Generate again to send it anyway.")
        assert own_key not in held.value.user_message
        studio.check_credit(request, api_key=own_key, owner=owner)  # pressed again: it goes
        studio.check_credit(ImageRequest(prompt="one kite", resolution="1080p"), api_key=own_key, owner=owner)
        with pytest.raises(NotEnoughCredit, match="this app's Akool account has"):  # the operator's own words
            simulator.sim.set_credit(server_key, 1)
            studio.check_credit(request, api_key=None, owner=studio.owner_for(None, BROWSER))
    finally:
        studio.close()


# --- the parts on their own ----------------------------------------------------------------------------


def _finished(job_id: str, credits: int | None, *, resolution: str = "4k", state=RecordState.SUCCEEDED) -> JobRecord:
    record = JobRecord.create(job_id, "bowner", request={"prompt": "x", "resolution": resolution})
    record.credits, record.state = credits, state
    return record


def test_learned_costs_are_bounded_kept_in_the_document_and_learn_a_job_once(tmp_path):
    documents = LocalDocuments(tmp_path)
    costs = CreditCosts(documents)
    assert not costs.learn(_finished("6650a1b2c3d4e5f6a7b8c900", 0, state=RecordState.FAILED))  # refunded
    assert not costs.learn(_finished("6650a1b2c3d4e5f6a7b8c901", None))  # Akool did not say
    for n in range(KEEP_PER_KIND + 5):
        assert costs.learn(_finished(f"6650a1b2c3d4e5f6a7b8{n:04x}", 7))
    assert not costs.learn(_finished(f"6650a1b2c3d4e5f6a7b8{KEEP_PER_KIND + 4:04x}", 7))  # learned already
    kept = documents.read(COSTS_DOCUMENT).value["create/4k"]
    assert len(kept) == KEEP_PER_KIND and "6650a1b2c3d4e5f6a7b80000" not in kept  # the oldest went first
    assert CreditCosts(documents).estimate("create", "4k", 2) == 14  # another process reads the same
    (tmp_path / "bad").mkdir()
    bad = LocalDocuments(tmp_path / "bad")
    bad.write(COSTS_DOCUMENT, ["not", "a", "dict"], expected=bad.read(COSTS_DOCUMENT).version)
    assert CreditCosts(bad).per_job("create", "1080p") == 3  # a malformed document: the measured figures


def test_a_failed_balance_read_shows_nothing_and_is_asked_again(simulator):
    key = _key()
    simulator.sim.add_account(api_key=key, credit=9)
    now = [0.0]
    balances = CreditBalances(ttl=60, clock=lambda: now[0])
    with AkoolClient(simulator.base_url, api_key=key) as client:
        simulator.sim.http_status(503, times=None, kinds="quota")
        assert balances.balance("k1", client) is None and balances.known("k1") is None
        simulator.sim.reset_faults()
        assert balances.balance("k1", client) == 9
        simulator.sim.set_credit(key, 4)
        assert balances.balance("k1", client) == 9  # kept
        now[0] = 61.0
        assert balances.balance("k1", client) == 4  # a minute later: read again
        simulator.sim.set_credit(key, 2)
        balances.spent("k1")
        assert balances.balance("k1", client) == 2  # a job ended: read again at once
