"""The simulator's account credit: ``GET /api/open/v3/faceswap/quota/info`` (account-wide despite its
path), authenticated like every other call, decreasing by each job's ``deduction_credit``, refunded when a
job fails, and Akool's 1006 ("insufficient quota balance") for a create the balance cannot pay."""

from __future__ import annotations

import secrets

import pytest

from akool_ui.akool.client import AkoolClient
from akool_ui.akool.errors import AuthError, ProtocolError, QuotaExceeded
from akool_ui.akool.models import ImageRequest
from akool_ui.simulator import RemoteSimulator
from akool_ui.simulator.app import PATHS
from akool_ui.simulator.jobbook import DEFAULT_CREDIT
from tests.conftest import CLIENT_ID, CLIENT_SECRET
from tests.test_simulator_support import Api


def _key() -> str:
    return "Credit" + secrets.token_hex(9)  # 24 characters, an account of this test's own


def _credit(api: Api) -> dict:
    return api.session.get(api.base + PATHS["quota"], headers=api.headers, timeout=10).json()


@pytest.fixture()
def api(simulator):
    return Api(simulator)


@pytest.fixture()
def account(simulator):
    key = _key()
    simulator.sim.add_account(api_key=key, credit=20)
    return Api(simulator, api_key=key)


def test_quota_info_answers_the_accounts_credit_in_akools_envelope(simulator, account):
    assert _credit(account) == {"code": 1000, "msg": "OK", "data": {"credit": 20}}
    fresh = _key()
    simulator.sim.add_account(api_key=fresh)
    assert _credit(Api(simulator, api_key=fresh))["data"]["credit"] == DEFAULT_CREDIT
    assert simulator.sim.stats()["quota"] >= 2  # counted as a kind of its own


@pytest.mark.parametrize(("headers", "code"), [
    ({}, 1102),
    ({"x-api-key": ""}, 1102),
    ({"x-api-key": "NotAKnownKey0123456789XY"}, 1101),
    ({"Authorization": "Bearer not-a-token"}, 1101),
])
def test_quota_info_refuses_bad_credentials_like_the_other_routes(simulator, headers, code):
    answer = _credit(Api(simulator, api_key=None, headers=headers))
    assert answer["code"] == code and answer["data"] is None and answer["msg"]


def test_quota_info_takes_a_bearer_token_too(simulator, api):
    envelope = api.call("token", {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    by_token = Api(simulator, api_key=None, headers={"Authorization": f"Bearer {envelope['token']}"})
    assert _credit(by_token)["code"] == 1000
    assert _credit(by_token)["data"] == _credit(api)["data"]  # the same account, however it signs in


def test_each_job_takes_its_deduction_credit_from_its_own_account_only(simulator, account, api):
    others = _credit(api)["data"]["credit"]
    one = account.v4(resolution="1080p")
    assert one["deduction_credit"] == 3 and _credit(account)["data"]["credit"] == 17
    two = account.v4(resolution="4k", batch_quantity=2)
    assert [j["deduction_credit"] for j in two] == [4, 4] and _credit(account)["data"]["credit"] == 9
    assert account.finished(one["_id"])["image_status"] == 3
    child = account.press(one["_id"], "U1")  # a 4K upscale costs what a 4k job does
    assert child["deduction_credit"] == 4 and _credit(account)["data"]["credit"] == 5
    account.finished(child["_id"])
    variation = account.press(one["_id"], "V1")  # a variation: a new 1080p generation
    assert variation["deduction_credit"] == 3 and _credit(account)["data"]["credit"] == 2
    assert _credit(api)["data"]["credit"] == others  # another account's balance never moves


def test_a_failed_job_is_refunded(simulator, account):
    simulator.sim.fail_next()
    failed = account.v4(resolution="1080p")
    assert _credit(account)["data"]["credit"] == 17  # charged when accepted
    assert account.finished(failed["_id"])["image_status"] == 4
    assert _credit(account)["data"]["credit"] == 20  # and given back when it fails


def test_a_create_the_balance_cannot_pay_answers_1006_and_makes_nothing(simulator, account):
    simulator.sim.set_credit(account.headers["x-api-key"], 10)
    before = simulator.sim.stats()["creates"]
    assert account.code("create_v4", {"prompt": "three 4k", "resolution": "4k", "batch_quantity": 3}) == 1006
    assert simulator.sim.stats()["creates"] == before and _credit(account)["data"]["credit"] == 10
    parent = account.v4(resolution="4k")  # 4 of the 10
    account.finished(parent["_id"])
    assert account.press(parent["_id"], "U1")["deduction_credit"] == 4  # 2 left
    assert account.code("button", {"_id": parent["_id"], "button": "V1"}) == 1006  # a 4k variation is 4
    assert "V1" not in account.info(parent["_id"])["used_buttons"]  # a refused press leaves the button free
    assert _credit(account)["data"]["credit"] == 2
    assert account.code("create_v4", {"prompt": "one 1080p", "resolution": "1080p"}) == 1006


def test_the_control_routes_set_an_accounts_credit(simulator):
    remote = RemoteSimulator(simulator.base_url)
    key = _key()
    try:
        remote.add_account(api_key=key, credit=12)
        assert _credit(Api(simulator, api_key=key))["data"]["credit"] == 12
        assert remote.set_credit(key, 3) == 3 and simulator.sim.credit(key) == 3
        with pytest.raises(ValueError, match="no account"):
            remote.set_credit("NoSuchAccountKey01234567", 3)
        with pytest.raises(ValueError, match="whole number"):
            remote.set_credit(key, -1)
    finally:
        remote.close()


# --- the SDK's credit() ------------------------------------------------------------------------------


def test_the_client_reads_the_credit_and_raises_akools_errors(simulator, account):
    key = account.headers["x-api-key"]
    with AkoolClient(simulator.base_url, api_key=key) as client:
        assert client.credit() == 20
        client.create_images(ImageRequest(prompt="a kite", resolution="4k"))
        assert client.credit() == 16
        simulator.sim.set_credit(key, 2)
        with pytest.raises(QuotaExceeded) as refused:
            client.create_images(ImageRequest(prompt="a kite", resolution="1080p"))
        assert refused.value.code == 1006 and key not in str(refused.value)
    with AkoolClient(simulator.base_url, api_key="NotAKnownKey0123456789XY") as stranger:
        with pytest.raises(AuthError):
            stranger.credit()


def test_the_client_retries_a_quota_read_and_refuses_a_garbled_one(simulator, account):
    with AkoolClient(simulator.base_url, api_key=account.headers["x-api-key"]) as client:
        simulator.sim.http_status(503, kinds="quota")  # a GET: retried like a status poll
        assert client.credit() == 20
        simulator.sim.malformed_json(kinds="quota")
        with pytest.raises(ProtocolError):
            client.credit()
