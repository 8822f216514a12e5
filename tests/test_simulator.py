"""The simulator's HTTP contract (akool-api.md): endpoints, auth, codes, shapes, lifecycle, buttons."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests

from akool_ui.simulator import QUEUED_SECONDS, RemoteSimulator
from akool_ui.simulator.app import PATHS
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, OTHER_API_KEY
from tests.test_simulator_support import Api, private_server

HEX24 = re.compile(r"[0-9a-f]{24}")
ALL_BUTTONS = ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]


@pytest.fixture()
def api(simulator):
    return Api(simulator)


def token_for(api: Api, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    envelope = api.call("token", {"clientId": client_id, "clientSecret": secret})
    assert envelope["code"] == 1000, envelope
    return envelope["token"]


# -- getToken and authentication ------------------------------------------------------------------------


def test_get_token_answers_a_top_level_jwt_shaped_token_that_authorises_requests(simulator, api):
    envelope = api.call("token", {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    assert set(envelope) == {"code", "token"}  # token is top-level, no data
    header, payload, signature = envelope["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert {"uid", "iat", "exp"} <= set(claims) and claims["exp"] - claims["iat"] > 365 * 86400
    bearer = Api(simulator, api_key=None, headers={"Authorization": f"Bearer {envelope['token']}"})
    job = bearer.v4()
    assert api.info(job["_id"])["_id"] == job["_id"]  # same account either way


@pytest.mark.parametrize(("body", "code"), [
    ({}, 1102),
    ({"clientId": CLIENT_ID}, 1102),
    ({"clientId": "", "clientSecret": CLIENT_SECRET}, 1102),
    ({"clientId": CLIENT_ID, "clientSecret": 5}, 1102),
    ({"clientId": CLIENT_ID, "clientSecret": "WrongSecret0123456789XYZ"}, 1101),
    ({"clientId": "64db241f6d9e5c4bd136c000", "clientSecret": CLIENT_SECRET}, 1101),
])
def test_get_token_refuses_missing_or_wrong_credentials(api, body, code):
    assert api.code("token", body) == code


def test_get_token_refuses_invalid_json(api):
    assert api.code("token", raw=b"{not json") == 1003
    assert api.code("token", raw=b"[1, 2]") == 1003


@pytest.mark.parametrize(("headers", "code"), [
    ({}, 1102),
    ({"x-api-key": ""}, 1102),
    ({"x-api-key": "NotAKnownKey0123456789XY"}, 1101),
    ({"x-api-key": CLIENT_ID}, 1101),  # the client id is not a key
    ({"Authorization": "Bearer"}, 1102),
    ({"Authorization": "Bearer   "}, 1102),
    ({"Authorization": "Bearer not-a-token"}, 1101),
    ({"Authorization": "Basic " + API_KEY}, 1101),
    ({"Authorization": API_KEY}, 1101),
])
def test_authentication_failures_answer_1101_or_1102_on_every_endpoint(simulator, headers, code):
    api = Api(simulator, api_key=None, headers=headers)
    assert api.code("create_v4", {"prompt": "x"}) == code
    assert api.code("create_v3", {"prompt": "x"}) == code
    assert api.code("button", {"_id": "0" * 24, "button": "U1"}) == code
    assert api.info_code("0" * 24) == code


def test_authorization_wins_over_x_api_key_when_both_are_sent(simulator, api):
    token = token_for(api)
    bad_bearer = Api(simulator, api_key=API_KEY, headers={"Authorization": "Bearer forged.token.value"})
    assert bad_bearer.code("create_v4", {"prompt": "x"}) == 1101  # a good key does not rescue it
    good_bearer = Api(simulator, api_key="NotAKnownKey0123456789XY", headers={"Authorization": f"Bearer {token}"})
    assert good_bearer.v4()["image_status"] == 1
    empty_auth = Api(simulator, api_key=API_KEY, headers={"Authorization": ""})
    assert empty_auth.v4()["image_status"] == 1  # an empty Authorization carries no value: the key is used


def test_expire_tokens_invalidates_issued_tokens_and_new_ones_work(simulator, api):
    token = token_for(api)
    bearer = Api(simulator, api_key=None, headers={"Authorization": f"Bearer {token}"})
    bearer.v4()
    assert simulator.sim.expire_tokens() >= 1
    assert bearer.code("create_v4", {"prompt": "x"}) == 1101
    fresh = Api(simulator, api_key=None, headers={"Authorization": f"Bearer {token_for(api)}"})
    assert fresh.v4()["image_status"] == 1


def test_auth_http_status_option_turns_auth_failures_into_401(simulator):
    simulator.sim.set_options(auth_http_status=401)
    response = Api(simulator, api_key="NotAKnownKey0123456789XY").post("create_v4", {"prompt": "x"})
    assert response.status_code == 401 and response.json()["code"] == 1101
    simulator.sim.reset_faults()
    response = Api(simulator, api_key="NotAKnownKey0123456789XY").post("create_v4", {"prompt": "x"})
    assert response.status_code == 200


# -- create shapes --------------------------------------------------------------------------------------


V4_FIELDS = {"_id", "uid", "team_id", "create_time", "prompt", "origin_prompt", "source_image", "image_status",
             "image_sub_status", "deduction_credit", "model_name", "provider", "type", "from", "sub_type",
             "file_name", "buttons", "used_buttons", "upscaled_urls"}


def test_v4_batch_1_answers_one_object_with_the_documented_fields(simulator, api):
    before = simulator.sim.stats()["creates"]
    data = api.v4(prompt="  A majestic   mountain  ", scale="16:9", resolution="1080p", unknown_key=[1, 2])
    assert isinstance(data, dict) and V4_FIELDS <= set(data)
    assert HEX24.fullmatch(data["_id"])
    assert data["image_status"] == 1 and data["image_sub_status"] == 1
    assert data["type"] == 4 and data["from"] == 4 and data["sub_type"] == 40001
    assert data["model_name"] == "wavespeed-ai/flux-krea-dev-lora" and data["provider"] == "wavespeed-ai"
    assert data["deduction_credit"] == 3 and data["source_image"] == ""  # 1080p: as measured (credits.md)
    assert data["origin_prompt"] == "A majestic   mountain" and data["prompt"] == "A majestic mountain"
    assert abs(data["create_time"] / 1000 - simulator.sim.now()) < 5
    assert data["file_name"] == f"ImageGenerator_{data['create_time']}.png"
    assert "image" not in data and data["buttons"] == [] and data["upscaled_urls"] == []
    assert simulator.sim.stats()["creates"] == before + 1


def test_v4_batch_4_answers_an_array_of_four_separate_jobs(simulator, api):
    before = simulator.sim.stats()["creates"]
    data = api.v4(batch_quantity=4)
    assert isinstance(data, list) and len(data) == 4
    assert len({job["_id"] for job in data}) == 4
    times = [job["create_time"] for job in data]
    assert times == sorted(times) and len(set(times)) == 4  # consecutive create_times
    assert simulator.sim.stats()["creates"] == before + 4
    for job in data:
        assert api.finished(job["_id"])["image_status"] == 3


def test_v4_batch_2_accepts_an_integral_float(api):
    assert len(api.v4(batch_quantity=2.0)) == 2


def test_v3_create_answers_the_v3_document(api):
    data = api.v3(scale="9:16", webhookUrl="")
    assert data["image_status"] == 1 and data["from"] == 1 and data["type"] == 4
    assert data["deduction_credit"] == 2 and data["faceswap_quality"] == 2
    assert {"buttons", "used_buttons", "upscaled_urls", "uid", "create_time", "origin_prompt"} <= set(data)
    assert "model_name" not in data  # v4 extras only on v4 jobs


V4_INVALID = [
    {},
    {"prompt": ""},
    {"prompt": "   "},
    {"prompt": 12},
    {"prompt": "x" * 2001},
    {"prompt": "x", "negative_prompt": 5},
    {"prompt": "x", "scale": "5:4"},
    {"prompt": "x", "scale": "original"},
    {"prompt": "x", "scale": "Original"},  # text-to-image
    {"prompt": "x", "resolution": "8k"},
    {"prompt": "x", "resolution": "4K"},
    {"prompt": "x", "batch_quantity": 0},
    {"prompt": "x", "batch_quantity": 5},
    {"prompt": "x", "batch_quantity": 1.5},
    {"prompt": "x", "batch_quantity": "2"},
    {"prompt": "x", "batch_quantity": True},
    {"prompt": "x", "similar": 1.5},
    {"prompt": "x", "similar": -0.1},
    {"prompt": "x", "similar": "0.5"},
    {"prompt": "x", "source_images": "http://example.invalid/a.png"},
    {"prompt": "x", "source_images": ["file:///etc/passwd"]},
    {"prompt": "x", "source_images": [""]},
    {"prompt": "x", "source_images": [5]},
    {"prompt": "x", "model_name": "meitu/yunxiu-pro/image-to-image"},
    {"prompt": "x", "model_name": "wavespeed-ai/flux-kontext-dev"},  # image-to-image model, no source
    {"prompt": "x", "model_name": "wavespeed-ai/flux-krea-dev-lora",
     "source_images": ["http://example.invalid/a.png"]},
    {"prompt": "x", "webhookurl": "not a url"},
    {"prompt": "x", "webhookurl": 5},
]


@pytest.mark.parametrize("body", V4_INVALID, ids=range(len(V4_INVALID)))
def test_v4_create_refuses_invalid_input_with_1003(simulator, api, body):
    before = simulator.sim.stats()["creates"]
    assert api.code("create_v4", body) == 1003
    assert simulator.sim.stats()["creates"] == before


V3_INVALID = [{}, {"prompt": ""}, {"prompt": "x", "scale": "Original"}, {"prompt": "x", "scale": "21:9"},
              {"prompt": "x", "source_image": "ftp://x/y.png"}, {"prompt": "x", "webhookUrl": "nope"}]


@pytest.mark.parametrize("body", V3_INVALID, ids=range(len(V3_INVALID)))
def test_v3_create_refuses_invalid_input_with_1003(api, body):
    assert api.code("create_v3", body) == 1003


@pytest.mark.parametrize("kind", ["create_v3", "create_v4", "button"])
@pytest.mark.parametrize("raw", [b"", b"{", b'"prompt"', b"[]", b'{"prompt": NaN}', b"\xff\xfe"])
def test_invalid_json_bodies_answer_1003(api, kind, raw):
    assert api.code(kind, raw=raw) == 1003


def test_nulls_count_as_not_sent(api):
    data = api.v4(scale=None, resolution=None, batch_quantity=None, similar=None, source_images=None,
                  model_name=None, webhookurl=None, negative_prompt=None)
    assert data["image_status"] == 1


# -- infobymodelid and the job lifecycle ----------------------------------------------------------------


def test_status_goes_queued_processing_done_with_the_clock(simulator, api):
    simulator.sim.set_options(speed=1.0)
    job_id = api.v4()["_id"]
    assert api.info(job_id)["image_status"] == 1
    simulator.sim.advance(QUEUED_SECONDS + 0.1)
    doc = api.info(job_id)
    assert doc["image_status"] == 2 and doc["image_sub_status"] == 2 and "image" not in doc
    simulator.sim.advance(10)
    doc = api.info(job_id)
    assert doc["image_status"] == 3 and doc["image"].startswith(simulator.base_url + "/")
    assert doc["buttons"] == ALL_BUTTONS and doc["used_buttons"] == []
    assert len(doc["upscaled_urls"]) == 4
    name = doc["image"].rsplit("/", 1)[1]
    assert re.fullmatch(r"\d{13}-[0-9a-f-]{36}-\d{4}\.jpeg", name)


def test_jobs_finish_in_real_time_at_the_test_speed(api):
    job_id = api.v4()["_id"]
    deadline = time.monotonic() + 5
    while api.info(job_id)["image_status"] != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.info(job_id)["image_status"] == 3  # speed 20: about 0.3 s without advance()


def test_info_codes_for_bad_unknown_and_foreign_ids(simulator, api):
    job_id = api.v4()["_id"]
    assert api.info_code(None) == 1003
    assert api.info_code("") == 1003
    assert api.info_code("xyz") == 1003
    assert api.info_code("g" * 24) == 1003
    assert api.info_code(job_id + "0") == 1003
    assert api.info_code("0123456789abcdef01234567") == 1008
    assert Api(simulator, api_key=OTHER_API_KEY).info_code(job_id) == 1009
    assert api.info(job_id.upper())["_id"] == job_id  # ObjectIds parse in either case


def test_failed_job_reports_status_4_with_a_refund_and_a_code(simulator, api):
    simulator.sim.fail_next()
    failed = api.v4()["_id"]
    fine = api.v4()["_id"]
    doc = api.finished(failed)
    assert doc["image_status"] == 4 and doc["deduction_credit"] == 0
    assert doc["error_code"] == 1108 and "image" not in doc and doc["buttons"] == []
    assert api.finished(fine)["image_status"] == 3


def test_fail_next_counts_jobs_so_a_batch_fails_only_the_first(simulator, api):
    simulator.sim.fail_next(times=1)
    batch = api.v4(batch_quantity=3)
    statuses = [api.finished(job["_id"])["image_status"] for job in batch]
    assert statuses == [4, 3, 3]


@pytest.mark.parametrize("code", [1108, 1104, 1005, 1200, 2001])
def test_fail_next_with_a_code_makes_the_create_call_answer_it(simulator, api, code):
    simulator.sim.fail_next(code=code)
    before = simulator.sim.stats()["creates"]
    assert api.code("create_v4", {"prompt": "x"}) == code
    assert simulator.sim.stats()["creates"] == before  # no job was made
    assert api.v4()["image_status"] == 1  # used up


def test_fail_next_kinds_limit_which_create_fails(simulator, api):
    simulator.sim.fail_next(code=1104, kinds=["create_v3"])
    assert api.v4()["image_status"] == 1
    assert api.code("create_v3", {"prompt": "x"}) == 1104


def test_stuck_next_stays_processing_forever(simulator, api):
    simulator.sim.stuck_next()
    job_id = api.v4()["_id"]
    simulator.sim.advance(86400)
    assert api.info(job_id)["image_status"] == 2


def test_invalid_fault_arguments_are_refused(simulator):
    sim = simulator.sim
    with pytest.raises(ValueError):
        sim.http_status(200)
    with pytest.raises(ValueError):
        sim.http_status(502, kinds=["nope"])
    with pytest.raises(ValueError):
        sim.http_status(502, kinds=[])
    with pytest.raises(ValueError):
        sim.delay(5, times=0)
    with pytest.raises(ValueError):
        sim.delay(-1)
    with pytest.raises(ValueError):
        sim.fail_next(code=1000)
    with pytest.raises(ValueError):
        sim.fail_next(kinds=["info"])
    with pytest.raises(ValueError):
        sim.set_options(result_shape="mosaic")
    with pytest.raises(ValueError):
        sim.set_options(speed=0)
    with pytest.raises(ValueError):
        sim.set_options(colour="red")
    with pytest.raises(ValueError):
        sim.set_options(auth_http_status=418)
    with pytest.raises(ValueError):
        sim.advance(-1)
    with pytest.raises(ValueError):
        sim.add_account()
    assert sim.active_faults() == []


# -- buttons --------------------------------------------------------------------------------------------


def test_button_makes_a_new_job_and_moves_the_button_to_used(simulator, api):
    parent = api.finished(api.v3(prompt="a red fox")["_id"])
    child = api.press(parent["_id"], "U2")
    assert HEX24.fullmatch(child["_id"]) and child["_id"] != parent["_id"]
    assert child["image_content_model_id"] == parent["_id"] and child["op_button"] == "U2"
    assert re.fullmatch(r"[A-Za-z0-9]{20}", child["op_buttonMessageId"])
    assert child["image_status"] == 1 and child["from"] == 1 and child["deduction_credit"] == 4  # a 4K upscale
    assert child["buttons"] == [] and child["upscaled_urls"] == []
    after = api.info(parent["_id"])
    assert after["used_buttons"] == ["U2"] and "U2" not in after["buttons"] and len(after["buttons"]) == 7
    assert api.code("button", {"_id": parent["_id"], "button": "U2"}) == 1010  # no second use
    upscaled = api.finished(child["_id"])
    assert upscaled["image_status"] == 3 and upscaled["buttons"] == [] and upscaled["upscaled_urls"] == []
    assert upscaled["image"] and upscaled["prompt"] == "a red fox"
    assert api.code("button", {"_id": child["_id"], "button": "U1"}) == 1010  # a U result offers nothing


def test_variation_job_yields_a_new_grid_of_four_with_buttons(api):
    parent = api.finished(api.v4()["_id"])
    child = api.finished(api.press(parent["_id"], "V3")["_id"])
    assert child["op_button"] == "V3" and child["image_status"] == 3
    assert len(child["upscaled_urls"]) == 4 and child["buttons"] == ALL_BUTTONS
    assert set(child["upscaled_urls"]).isdisjoint(parent["upscaled_urls"])
    grandchild = api.finished(api.press(child["_id"], "V1")["_id"])
    assert grandchild["image_status"] == 3


def test_button_codes(simulator, api):
    simulator.sim.set_options(speed=1.0)
    unfinished = api.v4()["_id"]
    assert api.code("button", {"_id": unfinished, "button": "U1"}) == 1010
    done = api.finished(unfinished)["_id"]
    assert api.code("button", {"_id": "0123456789abcdef01234567", "button": "U1"}) == 1008
    assert Api(simulator, api_key=OTHER_API_KEY).code("button", {"_id": done, "button": "U1"}) == 1009
    for bad in ("U5", "u1", "X1", "", None, 1):
        assert api.code("button", {"_id": done, "button": bad}) == 1003
    for bad_id in (None, "", "nope", "g" * 24):
        assert api.code("button", {"_id": bad_id, "button": "U1"}) == 1003
    simulator.sim.fail_next(code=1104, kinds=["button"])
    assert api.code("button", {"_id": done, "button": "U1"}) == 1104
    assert "U1" in api.info(done)["buttons"]  # a refused press does not use the button
    assert api.press(done, "U1")["op_button"] == "U1"


def test_failed_job_offers_no_buttons(simulator, api):
    simulator.sim.fail_next()
    job_id = api.finished(api.v4()["_id"])["_id"]
    assert api.code("button", {"_id": job_id, "button": "V1"}) == 1010


def test_v4_buttons_option_off_gives_v4_jobs_no_buttons(simulator, api):
    simulator.sim.set_options(v4_buttons=False)
    v4 = api.finished(api.v4()["_id"])
    v3 = api.finished(api.v3()["_id"])
    assert v4["buttons"] == [] and len(v4["upscaled_urls"]) == 4
    assert v3["buttons"] == ALL_BUTTONS
    assert api.code("button", {"_id": v4["_id"], "button": "U1"}) == 1010


# -- result shapes --------------------------------------------------------------------------------------


def test_result_shape_single_gives_one_image_also_in_upscaled_urls_and_no_buttons(simulator, api):
    simulator.sim.set_options(result_shape="single")
    doc = api.finished(api.v4()["_id"])
    assert doc["upscaled_urls"] == [doc["image"]] and doc["buttons"] == []
    assert api.code("button", {"_id": doc["_id"], "button": "U1"}) == 1010
    assert api.image(doc["image"]).size == (2160, 2160)  # one candidate, not a grid


def test_result_shape_grid_gives_the_grid_only_with_buttons(simulator, api):
    simulator.sim.set_options(result_shape="grid")
    doc = api.finished(api.v3()["_id"])
    assert doc["image"] and doc["upscaled_urls"] == [] and doc["buttons"] == ALL_BUTTONS
    upscaled = api.finished(api.press(doc["_id"], "U4")["_id"])
    assert upscaled["image"] and upscaled["upscaled_urls"] == []


def test_result_shape_is_fixed_when_the_job_is_created_and_reset_restores_candidates(simulator, api):
    simulator.sim.set_options(result_shape="grid")
    job_id = api.v4()["_id"]
    simulator.sim.reset_faults()
    assert simulator.sim.options()["result_shape"] == "candidates"
    assert api.finished(job_id)["upscaled_urls"] == []
    assert len(api.finished(api.v4()["_id"])["upscaled_urls"]) == 4


def test_upscaled_lag_leaves_upscaled_urls_empty_for_a_while_after_completion(simulator, api):
    simulator.sim.set_options(speed=1.0, upscaled_lag=30)
    job_id = api.v4()["_id"]
    simulator.sim.advance(6)
    doc = api.info(job_id)
    assert doc["image_status"] == 3 and doc["image"] and doc["upscaled_urls"] == []
    simulator.sim.advance(30)
    assert len(api.info(job_id)["upscaled_urls"]) == 4


# -- stats, control, misc -------------------------------------------------------------------------------


def test_stats_count_requests_by_kind_info_polls_per_job_and_creates():
    with private_server() as simulator:
        api = Api(simulator)
        token_for(api)
        job_id = api.v4(batch_quantity=2)[0]["_id"]
        api.v3()
        for _ in range(3):
            api.info(job_id)
        api.info_code("nope")
        doc = api.finished(job_id)
        api.image(doc["image"])
        api.image(doc["image"])
        stats = simulator.sim.stats()
        assert stats["token"] == 1 and stats["create_v4"] == 1 and stats["create_v3"] == 1
        assert stats["info"] == 5 and stats["info_polls"][job_id] == 4 and stats["info_polls"]["nope"] == 1
        assert stats["file"] == 2 and stats["renders"] == 1  # the second download came from the cache
        assert stats["creates"] == 3 and stats["button"] == 0
        simulator.sim.reset_stats()
        assert simulator.sim.stats()["info"] == 0 and simulator.sim.stats()["info_polls"] == {}


def test_unknown_paths_and_methods_are_plain_http_errors(simulator, api):
    base = simulator.base_url
    assert requests.get(base + "/api/open/v3/content/image/InfoByModelId", timeout=5).status_code == 404
    assert requests.post(base + "/api/open/v4/content/image/createbysourceprompt", timeout=5).status_code == 404
    assert requests.get(base + PATHS["create_v4"], timeout=5).status_code == 405
    assert requests.get(base + "/favicon.ico", timeout=5).status_code == 404


def test_add_account_defaults_and_inspection(simulator):
    account = simulator.sim.add_account(client_secret="OnlySecretKey0123456789X")
    assert account.api_key == "OnlySecretKey0123456789X" and account.client_id is None
    assert not account.can_sign_webhooks and "OnlySecret" not in repr(account)
    api = Api(simulator, api_key="OnlySecretKey0123456789X")
    job_id = api.v4()["_id"]
    assert simulator.sim.job(job_id)["_id"] == job_id
    assert simulator.sim.job("0" * 24) is None
    assert api.code("token", {"clientId": "", "clientSecret": "OnlySecretKey0123456789X"}) == 1102


def test_remote_simulator_drives_the_control_routes(simulator, api):
    remote = RemoteSimulator(simulator.base_url)
    try:
        remote.reset_stats()
        start = remote.now()
        assert remote.advance(5) >= start + 5
        remote.http_status(503, times=1, kinds=("info",))
        remote.delay(0.01, kinds=["info"])
        remote.drop_connection(kinds=["token"])
        remote.malformed_json(kinds=["token"])
        remote.truncate_body()
        remote.fail_next(code=1104, kinds=["button"])
        remote.stuck_next(kinds=["button"])
        names = [f["name"] for f in remote.active_faults()]
        assert names == ["http_status", "delay", "drop_connection", "malformed_json", "truncate_body",
                         "fail_call", "stuck_job"]
        job = api.v3()
        assert api.info_raw(job["_id"]).status_code == 503
        remote.reset_faults()
        assert remote.active_faults() == []
        assert remote.stats()["info"] == 1
        assert remote.set_options(result_shape="single")["result_shape"] == "single"
        assert remote.options()["result_shape"] == "single"
        remote.fail_next()
        failed = api.v4()["_id"]
        assert remote.job(failed)["_id"] == failed and remote.job("0" * 24) is None
        remote.advance(10)
        assert api.info(failed)["image_status"] == 4
        uid = remote.add_account(api_key="RemoteAddedKey0123456789")
        assert Api(simulator, api_key="RemoteAddedKey0123456789").v4()["uid"] == uid
        token_for(api)
        assert remote.expire_tokens() >= 1
        with pytest.raises(ValueError):
            remote.set_options(result_shape="mosaic")
        with pytest.raises(ValueError):
            remote.http_status(200)
        with pytest.raises(ValueError):
            remote._fault("no_such_fault")
        bad = requests.post(simulator.base_url + "/_sim/advance", data=b"[1]", timeout=5)
        assert bad.status_code == 400
        assert requests.post(simulator.base_url + "/_sim/advance", timeout=5).status_code == 200
        state = requests.get(simulator.base_url + "/_sim/state", timeout=5).json()
        assert state["base_url"] == simulator.base_url and state["options"]["result_shape"] == "single"
    finally:
        remote.reset_faults()
        remote.close()
