"""Webhook crypto (akool-api.md §5): the self-made vector of §5.4, tampering, wrong keys, stale and
non-finite timestamps, and the replay guard."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from akool_ui.akool import (
    AkoolClient,
    DecryptError,
    InvalidSignature,
    ReplayedWebhook,
    StaleWebhook,
    WebhookError,
)
from akool_ui.akool.webhook import (
    DEFAULT_TOLERANCE_SECONDS,
    REPLAY_GUARD_MAX_ENTRIES,
    ReplayGuard,
    decrypt_payload,
    encrypt_payload,
    make_webhook_body,
    parse_webhook,
    sign,
    verify_signature,
)

# akool-api.md §5.4
VECTOR_CLIENT_ID = "64db241f6d9e5c4bd136c187"
VECTOR_SECRET = "TestSecretKey0123456789X"  # 24 bytes: AES-192
VECTOR_PLAINTEXT = (
    '{"_id":"6650a1b2c3d4e5f6a7b8c9d0","status":3,"type":"image",'
    '"url":"https://example.invalid/1716859314633-0000.png"}'
)
VECTOR_BODY = {
    "signature": "f97bb3f068a92c6dc92cde862ae0a5418a7d0dfd",
    "dataEncrypt": "lPJe2bSCAu9gMk2Jm4ctyzJNKOGt6zSJi9JjXjDOkjM9VzVnODo6Ptm/rzRUgG1VGZoAwX/Q4XSjBsQGGaQHN5prSg/"
    "bthJRxbppuDv+fyHriAsRYwRjScUGFi2X6DTjScP8x0DpivFbhlEgIWhF1WG711ezqSE+e91g9/jwg/0=",
    "timestamp": 1716859400000,
    "nonce": "4821",
}
VECTOR_NOW = 1716859400.0 + 5  # seconds, five seconds after it was "sent"


def test_vector_signature_is_reproduced_exactly():
    body = VECTOR_BODY
    assert sign(VECTOR_CLIENT_ID, body["timestamp"], body["nonce"], body["dataEncrypt"]) == body["signature"]
    assert verify_signature(VECTOR_CLIENT_ID, body["timestamp"], body["nonce"], body["dataEncrypt"], body["signature"])


def test_vector_decrypts_to_the_exact_plaintext():
    assert decrypt_payload(VECTOR_BODY["dataEncrypt"], VECTOR_CLIENT_ID, VECTOR_SECRET) == json.loads(VECTOR_PLAINTEXT)
    assert encrypt_payload(VECTOR_PLAINTEXT, VECTOR_CLIENT_ID, VECTOR_SECRET) == VECTOR_BODY["dataEncrypt"]


def test_vector_parses_into_a_webhook_event():
    event = parse_webhook(VECTOR_BODY, VECTOR_CLIENT_ID, VECTOR_SECRET, now=VECTOR_NOW)
    assert (event.job_id, event.status, event.type) == ("6650a1b2c3d4e5f6a7b8c9d0", 3, "image")
    assert event.url == "https://example.invalid/1716859314633-0000.png"


def test_client_parse_webhook_uses_its_client_id_and_secret():
    client = AkoolClient("http://127.0.0.1:9", client_id=VECTOR_CLIENT_ID, client_secret=VECTOR_SECRET)
    assert client.parse_webhook(VECTOR_BODY, now=VECTOR_NOW).job_id == "6650a1b2c3d4e5f6a7b8c9d0"


def test_client_parse_webhook_falls_back_to_the_api_key_as_secret():
    # Akool: the API key *is* the client secret, so an api-key client with the client id can decrypt.
    client = AkoolClient("http://127.0.0.1:9", api_key=VECTOR_SECRET, client_id=VECTOR_CLIENT_ID)
    assert client.parse_webhook(VECTOR_BODY, now=VECTOR_NOW).status == 3


def test_client_without_client_id_cannot_parse_webhooks():
    client = AkoolClient("http://127.0.0.1:9", api_key=VECTOR_SECRET)
    with pytest.raises(WebhookError) as info:
        client.parse_webhook(VECTOR_BODY, now=VECTOR_NOW)
    assert VECTOR_SECRET not in str(info.value)


def test_tampered_signature_is_refused():
    body = {**VECTOR_BODY, "signature": "0" * 40}
    with pytest.raises(InvalidSignature):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET, now=VECTOR_NOW)


@pytest.mark.parametrize("field", ["dataEncrypt", "timestamp", "nonce"])
def test_tampering_with_any_signed_field_breaks_the_signature(field):
    body = dict(VECTOR_BODY)
    body[field] = {"dataEncrypt": body["dataEncrypt"][:-4] + "AAA=", "timestamp": body["timestamp"] + 1,
                   "nonce": "4822"}[field]
    with pytest.raises(InvalidSignature):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET, now=VECTOR_NOW)


def test_wrong_client_id_fails_the_signature():
    with pytest.raises(InvalidSignature):
        parse_webhook(VECTOR_BODY, "64db241f6d9e5c4bd136c999", VECTOR_SECRET, now=VECTOR_NOW)


def test_wrong_secret_fails_decryption_without_revealing_it():
    wrong = "WrongSecretKey0123456789"
    with pytest.raises(DecryptError) as info:
        parse_webhook(VECTOR_BODY, VECTOR_CLIENT_ID, wrong, now=VECTOR_NOW)
    assert wrong not in str(info.value) and wrong not in info.value.user_message


def test_secret_of_unusable_length_is_a_decrypt_error_without_the_secret():
    odd = "short-secret"
    with pytest.raises(DecryptError) as info:
        decrypt_payload(VECTOR_BODY["dataEncrypt"], VECTOR_CLIENT_ID, odd)
    assert odd not in str(info.value)


@pytest.mark.parametrize("data_encrypt", ["not base64 at all!", "", base64.b64encode(b"short").decode()])
def test_bad_base64_or_partial_blocks_are_decrypt_errors(data_encrypt):
    body = make_webhook_body({"_id": "x", "status": 3}, VECTOR_CLIENT_ID, VECTOR_SECRET, timestamp_ms=1, nonce="1")
    body["dataEncrypt"] = data_encrypt
    body["signature"] = sign(VECTOR_CLIENT_ID, 1, "1", data_encrypt)
    with pytest.raises(DecryptError):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET, tolerance=None)


@pytest.mark.parametrize("skew", [-601, 601])
def test_stale_or_future_timestamps_are_refused(skew):
    with pytest.raises(StaleWebhook):
        parse_webhook(VECTOR_BODY, VECTOR_CLIENT_ID, VECTOR_SECRET, now=VECTOR_BODY["timestamp"] / 1000 + skew)


def test_non_numeric_timestamp_is_refused_as_stale():
    body = make_webhook_body({"_id": "a", "status": 3}, VECTOR_CLIENT_ID, VECTOR_SECRET, nonce="7")
    body["timestamp"] = "yesterday"
    body["signature"] = sign(VECTOR_CLIENT_ID, "yesterday", "7", body["dataEncrypt"])
    with pytest.raises(StaleWebhook):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET)


def test_tolerance_none_skips_the_replay_check():
    assert parse_webhook(VECTOR_BODY, VECTOR_CLIENT_ID, VECTOR_SECRET, tolerance=None).status == 3


@pytest.mark.parametrize("body", [None, [], "x", {"signature": "a", "timestamp": 1, "nonce": "1"}])
def test_malformed_bodies_are_webhook_errors(body):
    with pytest.raises(WebhookError):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET)


@pytest.mark.parametrize(
    "payload", [[1, 2], {"_id": "a", "status": "done"}, {"status": 3}, {"_id": "", "status": 3}],
)
def test_payloads_without_id_or_numeric_status_are_decrypt_errors(payload):
    body = make_webhook_body({}, VECTOR_CLIENT_ID, VECTOR_SECRET)
    data = encrypt_payload(json.dumps(payload), VECTOR_CLIENT_ID, VECTOR_SECRET)
    body.update(dataEncrypt=data, signature=sign(VECTOR_CLIENT_ID, body["timestamp"], body["nonce"], data))
    with pytest.raises(DecryptError):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET)


@pytest.mark.parametrize("secret", ["K" * 16, "K" * 24, "K" * 32], ids=["AES-128", "AES-192", "AES-256"])
def test_every_aes_key_size_round_trips(secret):
    payload = {"_id": "6650A1B2C3D4E5F6A7B8C9D0", "status": 2, "type": "image"}
    body = make_webhook_body(payload, VECTOR_CLIENT_ID, secret)
    event = parse_webhook(body, VECTOR_CLIENT_ID, secret)
    assert (event.job_id, event.status, event.url) == ("6650a1b2c3d4e5f6a7b8c9d0", 2, None)
    other = "L" * len(secret)
    with pytest.raises(DecryptError):
        parse_webhook(body, VECTOR_CLIENT_ID, other)


def test_numeric_nonce_signs_like_its_string():
    body = make_webhook_body({"_id": "a", "status": 3}, VECTOR_CLIENT_ID, VECTOR_SECRET, nonce="1529")
    body["nonce"] = 1529  # one doc example sends it as a number
    assert parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET).status == 3


# --- non-finite timestamps and replays ------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["NaN", "nan", "Infinity", "-Infinity", "inf", float("nan"), float("inf")])
def test_non_finite_timestamps_are_refused_as_stale(timestamp):
    # abs(now - nan) > tolerance is False, so a NaN once slipped through the window check.
    body = make_webhook_body({"_id": "a", "status": 3}, VECTOR_CLIENT_ID, VECTOR_SECRET, nonce="7")
    body["timestamp"] = timestamp
    body["signature"] = sign(VECTOR_CLIENT_ID, timestamp, "7", body["dataEncrypt"])
    with pytest.raises(StaleWebhook):
        parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET)


def test_event_carries_the_verified_signature_normalised():
    body = {**VECTOR_BODY, "signature": " " + VECTOR_BODY["signature"].upper()}
    assert parse_webhook(body, VECTOR_CLIENT_ID, VECTOR_SECRET, now=VECTOR_NOW).signature == VECTOR_BODY["signature"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_replay_guard_refuses_a_second_delivery_within_the_window():
    guard = ReplayGuard(window=60, clock=FakeClock())
    guard.claim(VECTOR_BODY["signature"])
    with pytest.raises(ReplayedWebhook) as info:
        guard.claim(VECTOR_BODY["signature"])
    assert isinstance(info.value, WebhookError) and info.value.user_message
    # the signature verifies case- and space-insensitively, so the guard must compare the same way
    with pytest.raises(ReplayedWebhook):
        guard.claim(" " + VECTOR_BODY["signature"].upper())
    guard.claim("0" * 40)  # another callback is not a replay
    assert len(guard) == 2


def test_replay_guard_forgets_after_the_window():
    clock = FakeClock()
    guard = ReplayGuard(window=60, clock=clock)
    guard.claim("a" * 40)
    clock.now += 59
    guard.claim("b" * 40)
    with pytest.raises(ReplayedWebhook):
        guard.claim("a" * 40)
    clock.now += 2  # "a" is 61 s old, "b" 2 s
    guard.claim("a" * 40)  # stale by now anyway: parse_webhook's window refuses it
    with pytest.raises(ReplayedWebhook):
        guard.claim("b" * 40)
    clock.now += 3600
    assert len(guard) == 0


def test_replay_guard_memory_is_bounded_dropping_the_oldest():
    guard = ReplayGuard(window=60, max_entries=3, clock=FakeClock())
    for key in "abcd":
        guard.claim(key * 40)
    assert len(guard) == 3
    guard.claim("a" * 40)  # the oldest was dropped to make room
    for key in "cd":
        with pytest.raises(ReplayedWebhook):
            guard.claim(key * 40)
    assert len(guard) == 3


def test_replay_guard_default_bound_and_window_cover_the_tolerance():
    guard = ReplayGuard()
    assert guard.max_entries == REPLAY_GUARD_MAX_ENTRIES
    # accepted at timestamp - tolerance, still acceptable at timestamp + tolerance
    assert guard.window >= 2 * DEFAULT_TOLERANCE_SECONDS
    for i in range(REPLAY_GUARD_MAX_ENTRIES + 50):
        guard.claim(f"{i:040x}")
    assert len(guard) == REPLAY_GUARD_MAX_ENTRIES


def test_replay_guard_release_lets_a_failed_delivery_be_retried():
    guard = ReplayGuard(clock=FakeClock())
    guard.claim("a" * 40)
    guard.release("A" * 40)
    guard.claim("a" * 40)


def test_replay_guard_lets_exactly_one_of_many_concurrent_deliveries_through():
    guard = ReplayGuard()
    barrier = threading.Barrier(16)
    outcomes: list[bool] = []

    def deliver() -> None:
        barrier.wait()
        try:
            guard.claim("c" * 40)
            outcomes.append(True)
        except ReplayedWebhook:
            outcomes.append(False)

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 15 + [True]


@pytest.mark.parametrize("window, max_entries", [(0, 10), (-1, 10), (60, 0)])
def test_replay_guard_refuses_useless_settings(window, max_entries):
    with pytest.raises(ValueError):
        ReplayGuard(window=window, max_entries=max_entries)


# --- the app's guard: a lease per payload, shared by every process on one leases file ---------------------


def test_a_payload_is_accepted_once_across_processes_and_a_failed_one_can_be_retried(tmp_path):
    from akool_ui.adapters.local import LocalLeases
    from akool_ui.akool.webhook import REPLAY_WINDOW_SECONDS
    from akool_ui.service.runtime.replays import WebhookReplays

    here = WebhookReplays(LocalLeases(tmp_path / "leases.db"))
    there = WebhookReplays(LocalLeases(tmp_path / "leases.db"))  # another process's connection
    applied: list[str] = []

    def failing() -> bool:
        raise OSError("store unavailable")

    with pytest.raises(OSError):
        here.accept_once("a" * 32, failing)
    assert there.accept_once("A" * 32, lambda: applied.append("there") or True)  # the retry gets through
    for guard in (here, there):
        with pytest.raises(ReplayedWebhook):
            guard.accept_once("a" * 32, lambda: applied.append("again"))
    assert applied == ["there"]
    assert here.window == REPLAY_WINDOW_SECONDS
    # accepted and kept: a new process on the same file still refuses it
    with pytest.raises(ReplayedWebhook):
        WebhookReplays(LocalLeases(tmp_path / "leases.db")).accept_once("a" * 32, lambda: True)


def test_the_lease_of_an_accepted_payload_ends_with_its_window():
    from akool_ui.adapters.local import MemoryLeases
    from akool_ui.service.runtime.replays import WebhookReplays

    clock = FakeClock()
    guard = WebhookReplays(MemoryLeases(clock=clock), window=60)
    guard.accept_once("b" * 32, lambda: None)
    clock.now += 59
    with pytest.raises(ReplayedWebhook):
        guard.accept_once("b" * 32, lambda: None)
    clock.now += 2
    guard.accept_once("b" * 32, lambda: None)  # stale by now anyway: parse_webhook's window refuses it
