"""AkoolClient against the simulator over real HTTP: endpoints, auth modes, codes, validation."""

from __future__ import annotations

import threading

import pytest
import requests

from akool_ui.akool import (
    AccountBanned,
    AkoolClient,
    AuthError,
    CannotOperate,
    GenerationFailed,
    ImageRequest,
    InvalidRequest,
    JobFailed,
    JobNotFound,
    JobStatus,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    UnknownApiError,
    V3ImageRequest,
)
from akool_ui.akool.client import ENDPOINTS
from tests.conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, OTHER_API_KEY, OTHER_CLIENT_ID
from tests.client_helpers import (  # noqa: F401 - own_simulator/simulator are fixtures
    SimTime,
    counts,
    finish,
    make_client,
    own_simulator,
    simulator,
)

SOURCE = "https://example.invalid/source.png"


# -- endpoints ----------------------------------------------------------------------------------------


def test_batch_of_one_returns_one_queued_job_from_a_single_create(simulator):
    client = make_client(simulator)
    before = counts(simulator)
    (job,) = client.create_images(ImageRequest(prompt="a lighthouse at dusk"))
    assert job.status is JobStatus.QUEUED and len(job.id) == 24
    assert job.prompt == "a lighthouse at dusk"
    assert counts(simulator, before)["create_v4"] == 1


def test_batch_of_four_returns_four_distinct_jobs_from_a_single_create(simulator):
    client = make_client(simulator)
    before = counts(simulator)
    jobs = client.create_images(ImageRequest(prompt="four foxes", batch_quantity=4, resolution="1080p"))
    assert len(jobs) == 4 and len({job.id for job in jobs}) == 4
    assert counts(simulator, before)["create_v4"] == 1


def test_v4_job_runs_to_success_with_a_result_url(simulator):
    client = make_client(simulator)
    (job,) = client.create_images(ImageRequest(prompt="a red kite"))
    done = finish(simulator, client, job.id)
    assert done.succeeded and done.result_urls
    assert all(url.startswith("http") for url in done.result_urls)


def test_image_to_image_job_reports_its_source(simulator):
    client = make_client(simulator)
    (job,) = client.create_images(ImageRequest(prompt="as a watercolour", source_images=[SOURCE], similar=0.8))
    assert job.source_image == SOURCE


def test_v3_create_gives_four_candidates_and_eight_buttons(simulator):
    client = make_client(simulator)
    job = client.create_images_v3(V3ImageRequest(prompt="a castle", scale="16:9"))
    assert job.status is JobStatus.QUEUED
    done = finish(simulator, client, job.id)
    assert done.succeeded and len(done.result_urls) == 4
    assert set(done.buttons) == {"U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"}


def test_get_job_returns_the_same_job(simulator):
    client = make_client(simulator)
    job = client.create_images_v3(V3ImageRequest(prompt="a castle"))
    assert client.get_job(job.id.upper()).id == job.id


def test_button_lifecycle_upscale_then_variation_then_reuse_refused(simulator):
    client = make_client(simulator)
    parent = finish(simulator, client, client.create_images_v3(V3ImageRequest(prompt="a castle")).id)

    upscale = client.press_button(parent.id, "u2")
    assert (upscale.parent_id, upscale.button, upscale.status) == (parent.id, "U2", JobStatus.QUEUED)
    upscaled = finish(simulator, client, upscale.id)
    assert upscaled.succeeded and len(upscaled.result_urls) == 1 and upscaled.buttons == ()

    variation = client.press_button(parent.id, "V1")
    assert (variation.parent_id, variation.button) == (parent.id, "V1")
    assert finish(simulator, client, variation.id).succeeded

    parent_now = client.get_job(parent.id)
    assert {"U2", "V1"} <= set(parent_now.used_buttons)
    assert not parent_now.can_press("U2")
    with pytest.raises(CannotOperate) as info:
        client.press_button(parent.id, "U2")
    assert info.value.code in (1010, 1011)


def test_pressing_a_button_on_an_unfinished_job_is_refused(simulator):
    client = make_client(simulator)
    job = client.create_images_v3(V3ImageRequest(prompt="a castle"))
    with pytest.raises(CannotOperate):
        client.press_button(job.id, "U1")


def test_unknown_job_id_is_job_not_found(simulator):
    client = make_client(simulator)
    with pytest.raises(JobNotFound) as info:
        client.get_job("0123456789abcdef01234567")
    assert info.value.code == 1008
    with pytest.raises(JobNotFound):
        client.press_button("0123456789abcdef01234567", "U1")


def test_another_accounts_job_is_permission_denied(simulator):
    mine = make_client(simulator)
    theirs = make_client(simulator, api_key=OTHER_API_KEY)
    job = mine.create_images_v3(V3ImageRequest(prompt="mine"))
    with pytest.raises(PermissionDenied) as info:
        theirs.get_job(job.id)
    assert info.value.code == 1009
    with pytest.raises(PermissionDenied):
        theirs.press_button(job.id, "U1")


# -- authentication -----------------------------------------------------------------------------------


def test_token_mode_fetches_one_token_and_reuses_it(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    before = counts(simulator)
    (job,) = client.create_images(ImageRequest(prompt="token mode"))
    client.get_job(job.id)
    client.get_job(job.id)
    assert counts(simulator, before)["token"] == 1


def test_get_token_returns_a_token_string(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    token = client.get_token()
    assert isinstance(token, str) and token.count(".") == 2  # JWT-shaped


def test_expired_token_is_renewed_exactly_once_and_the_call_succeeds(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    (job,) = client.create_images(ImageRequest(prompt="renew me"))
    simulator.sim.expire_tokens()
    before = counts(simulator)
    assert client.get_job(job.id).id == job.id
    delta = counts(simulator, before)
    assert delta["token"] == 1 and delta["info"] == 2  # refused once, repeated once


def test_expired_token_on_a_create_renews_and_creates_once(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    client.get_token()  # warm the simulator; the client's own cache is still empty
    client.create_images(ImageRequest(prompt="first"))
    simulator.sim.expire_tokens()
    before = counts(simulator)
    (job,) = client.create_images(ImageRequest(prompt="second"))
    delta = counts(simulator, before)
    assert delta["token"] == 1 and delta["create_v4"] == 2  # refused (no job made), then repeated
    assert client.get_job(job.id).prompt == "second"


def test_concurrent_calls_refused_at_once_share_one_token_renewal(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    (job,) = client.create_images(ImageRequest(prompt="shared"))  # the client now holds a token
    simulator.sim.expire_tokens()
    before = counts(simulator)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def poll() -> None:
        try:
            start.wait()
            client.get_job(job.id)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    delta = counts(simulator, before)
    assert delta["token"] == 1 and delta["info"] > 8  # several were refused, one token served them all


def test_wrong_client_secret_is_an_auth_error(simulator):
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret="WrongSecret0123456789XYZ")
    with pytest.raises(AuthError) as info:
        client.get_job("0123456789abcdef01234567")
    assert info.value.code == 1101


def test_wrong_api_key_is_an_auth_error(simulator):
    with pytest.raises(AuthError) as info:
        make_client(simulator, api_key="NotAKey").create_images(ImageRequest(prompt="x"))
    assert info.value.code == 1101


def test_no_credentials_is_auth_error_1102(simulator):
    client = AkoolClient(simulator.base_url)
    with pytest.raises(AuthError) as info:
        client.get_job("0123456789abcdef01234567")
    assert info.value.code == 1102
    with pytest.raises(AuthError):
        client.get_token()


def test_api_key_is_used_when_both_credentials_are_given(simulator):
    client = make_client(simulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    before = counts(simulator)
    client.create_images(ImageRequest(prompt="key wins"))
    assert counts(simulator, before)["token"] == 0


def test_authorization_wins_over_x_api_key_when_both_are_sent(simulator):
    # The token is for the main account, the key for the other: the job must belong to the main one.
    client = make_client(
        simulator, api_key=OTHER_API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, send_both=True
    )
    (job,) = client.create_images(ImageRequest(prompt="whose is it"))
    assert make_client(simulator).get_job(job.id).id == job.id
    with pytest.raises(PermissionDenied):
        make_client(simulator, api_key=OTHER_API_KEY).get_job(job.id)


def test_expired_bearer_fails_even_next_to_a_valid_key_until_renewed(simulator):
    client = make_client(simulator, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, send_both=True)
    (job,) = client.create_images(ImageRequest(prompt="precedence"))
    simulator.sim.expire_tokens()
    before = counts(simulator)
    client.get_job(job.id)
    assert counts(simulator, before)["token"] == 1  # a valid x-api-key did not save the stale Bearer


def test_other_client_id_with_main_secret_cannot_get_a_token(simulator):
    with pytest.raises(AuthError):
        make_client(simulator, api_key=None, client_id=OTHER_CLIENT_ID, client_secret=CLIENT_SECRET).get_token()


# -- business codes -----------------------------------------------------------------------------------


CODES = [
    (1003, InvalidRequest), (1005, RateLimited), (1006, QuotaExceeded), (1008, JobNotFound),
    (1009, PermissionDenied), (1010, CannotOperate), (1011, CannotOperate), (1101, AuthError),
    (1102, AuthError), (1103, QuotaExceeded), (1104, QuotaExceeded), (1108, GenerationFailed),
    (1109, AuthError), (1200, AccountBanned), (2001, UnknownApiError),
]


@pytest.mark.parametrize(("code", "cls"), CODES)
def test_every_code_from_a_create_raises_its_class(simulator, code, cls):
    client = make_client(simulator)
    with pytest.raises(cls) as info:
        simulator.sim.fail_next(code=code)
        client.create_images(ImageRequest(prompt="doomed"))
    assert info.value.code == code
    assert info.value.user_message and str(code) in str(info.value)


def test_server_side_validation_answers_1003_for_what_the_client_would_refuse(simulator):
    client = make_client(simulator)
    method, path, _ = ENDPOINTS["create_v4"]
    for body in ({"prompt": ""}, {"prompt": "x", "batch_quantity": 5}, {"prompt": "x", "scale": "Original"},
                 {"prompt": "x", "source_images": ["file:///etc/passwd"]}):
        with pytest.raises(InvalidRequest) as info:
            client._request(method, path, kind="create_v4", json=body)
        assert info.value.code == 1003


def test_failed_job_is_an_update_from_wait_and_job_failed_from_wait_for(simulator):
    client = make_client(simulator)
    simulator.sim.fail_next()
    (job,) = client.create_images(ImageRequest(prompt="will fail"))
    time = SimTime(simulator)
    updates = list(client.wait(job.id, sleep=time.sleep, clock=time.clock))
    assert updates[-1].job.status is JobStatus.FAILED
    with pytest.raises(JobFailed) as info:
        client.wait_for(job.id, sleep=time.sleep, clock=time.clock)
    assert info.value.job.id == job.id and info.value.job.error_code == 1108


# -- nothing invalid is ever sent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_job("../../etc"),
        lambda c: c.get_job("aaaa?x=1"),
        lambda c: c.get_job(""),
        lambda c: c.press_button("../../etc", "U1"),
        lambda c: c.press_button("0123456789abcdef01234567", "U9"),
        lambda c: c.press_button("0123456789abcdef01234567", "X1"),
        lambda c: c.press_button("0123456789abcdef01234567", ""),
        lambda c: c.press_button("0123456789abcdef01234567", "U1", webhook_url="javascript:alert(1)"),
        lambda c: list(c.wait("aaaa?x=1")),
        lambda c: c.create_images(ImageRequest(prompt="")),
        lambda c: c.create_images(ImageRequest(prompt="x" * 5000)),
        lambda c: c.create_images(ImageRequest(prompt="x", scale="5:4")),
        lambda c: c.create_images(ImageRequest(prompt="x", scale="Original")),
        lambda c: c.create_images(ImageRequest(prompt="x", resolution="8k")),
        lambda c: c.create_images(ImageRequest(prompt="x", batch_quantity=0)),
        lambda c: c.create_images(ImageRequest(prompt="x", batch_quantity=5)),
        lambda c: c.create_images(ImageRequest(prompt="x", batch_quantity="2.5")),
        lambda c: c.create_images(ImageRequest(prompt="x", source_images=[SOURCE], similar=-0.1)),
        lambda c: c.create_images(ImageRequest(prompt="x", source_images=[SOURCE], similar=1.1)),
        lambda c: c.create_images(ImageRequest(prompt="x", source_images=[SOURCE], similar=float("nan"))),
        lambda c: c.create_images(ImageRequest(prompt="x", source_images=["file:///etc/passwd"])),
        lambda c: c.create_images(ImageRequest(prompt="x", source_images=["javascript:alert(1)"])),
        lambda c: c.create_images_v3(V3ImageRequest(prompt="x", scale="Original")),
    ],
    ids=[
        "id-traversal", "id-query", "id-empty", "button-id-traversal", "button-U9", "button-X1", "button-empty",
        "button-webhook-js", "wait-id-query", "prompt-empty", "prompt-too-long", "scale-unknown",
        "original-without-source", "resolution", "batch-0", "batch-5", "batch-2.5", "similar-neg", "similar-big",
        "similar-nan", "source-file", "source-javascript", "v3-original",
    ],
)
def test_invalid_input_raises_invalid_request_and_sends_nothing(simulator, call):
    client = make_client(simulator)
    before = counts(simulator)
    with pytest.raises(InvalidRequest) as info:
        call(client)
    assert info.value.user_message.endswith(".")
    assert not any(counts(simulator, before).values())


def test_a_retry_policy_is_per_client(simulator):
    client = make_client(simulator, retry=RetryPolicy(attempts=1))
    assert client.retry.attempts == 1


# -- result shapes and auth-by-HTTP-status options -------------------------------------------------------


@pytest.mark.parametrize(("shape", "expected"), [("candidates", 4), ("single", 1), ("grid", 1)])
def test_every_result_shape_gives_downloadable_result_urls(simulator, shape, expected):
    simulator.sim.set_options(result_shape=shape)
    client = make_client(simulator)
    done = finish(simulator, client, client.create_images_v3(V3ImageRequest(prompt=f"shape {shape}")).id)
    assert len(done.result_urls) == expected
    answer = requests.get(done.result_urls[0], timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")


def test_candidates_that_lag_behind_success_show_up_on_a_later_poll(simulator):
    # akool-api.md §8.2: image_status may read 3 before upscaled_urls is filled; wait() ends at 3.
    simulator.sim.set_options(upscaled_lag=5.0)
    client = make_client(simulator)
    done = finish(simulator, client, client.create_images_v3(V3ImageRequest(prompt="lagging")).id)
    assert done.succeeded and done.candidate_urls == () and done.result_urls == (done.image_url,)
    simulator.sim.advance(5.0)
    assert len(client.get_job(done.id).result_urls) == 4


@pytest.mark.parametrize("http_status", [401, 403])
def test_auth_failures_sent_with_http_401_or_403_are_still_auth_errors(simulator, http_status):
    simulator.sim.set_options(auth_http_status=http_status)
    with pytest.raises(AuthError) as info:
        make_client(simulator, api_key="NotAKey").get_job("0123456789abcdef01234567")
    assert info.value.code == 1101 and f"HTTP {http_status}" in str(info.value)
    client = make_client(simulator, api_key=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    (job,) = client.create_images(ImageRequest(prompt="renew through a 401"))
    simulator.sim.expire_tokens()
    before = counts(simulator)
    assert client.get_job(job.id).id == job.id
    assert counts(simulator, before)["token"] == 1


def test_v4_job_without_buttons_refuses_a_button(simulator):
    simulator.sim.set_options(v4_buttons=False)
    client = make_client(simulator)
    (job,) = client.create_images(ImageRequest(prompt="no buttons here"))
    done = finish(simulator, client, job.id)
    assert done.succeeded and done.buttons == ()
    with pytest.raises(CannotOperate) as info:
        client.press_button(done.id, "V1")
    assert info.value.code == 1010
