"""The error tree: every documented code maps to its class, and every error has a plain sentence."""

from __future__ import annotations

import pytest

from akool_ui import akool
from akool_ui.akool import errors
from akool_ui.akool import (
    AccountBanned,
    AkoolError,
    ApiError,
    AuthError,
    CannotOperate,
    ConnectError,
    ConnectionDropped,
    GenerationFailed,
    HttpStatusError,
    InvalidRequest,
    Job,
    JobFailed,
    JobNotFound,
    JobStatus,
    JobTimedOut,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    RequestTimeout,
    TransportError,
    UnknownApiError,
    error_for_code,
)

DOCUMENTED = {
    1003: InvalidRequest, 1005: RateLimited, 1006: QuotaExceeded, 1008: JobNotFound, 1009: PermissionDenied,
    1010: CannotOperate, 1011: CannotOperate, 1014: JobNotFound, 1101: AuthError, 1102: AuthError,
    1103: QuotaExceeded, 1104: QuotaExceeded, 1108: GenerationFailed, 1109: AuthError, 1200: AccountBanned,
    1213: QuotaExceeded, 1221: QuotaExceeded,
}


@pytest.mark.parametrize(("code", "cls"), sorted(DOCUMENTED.items()))
def test_every_documented_code_builds_its_own_class(code, cls):
    error = AkoolError.from_envelope({"code": code, "msg": "nope"})
    assert type(error) is cls and isinstance(error, ApiError)
    assert error.code == code
    assert str(error) == f"[{code}] Akool answered code {code}: nope"
    assert error.user_message == cls.default_user_message


@pytest.mark.parametrize("code", [2001, 1007, 9999, None, "abc"])
def test_unknown_or_missing_codes_become_unknown_api_error(code):
    error = AkoolError.from_envelope({"code": code})
    assert type(error) is UnknownApiError
    assert error.code == (code if isinstance(code, int) else None)


def test_numeric_string_codes_are_understood():
    assert type(AkoolError.from_envelope({"code": "1008"})) is JobNotFound


def test_envelope_message_is_truncated_and_http_status_noted():
    error = AkoolError.from_envelope({"code": 1003, "message": "x" * 2000}, http_status=400)
    assert len(error.message) < 600 and error.message.endswith("(HTTP 400)")


def test_account_banned_is_also_an_auth_error():
    assert issubclass(AccountBanned, AuthError)
    assert error_for_code(1200) is AccountBanned and error_for_code(None) is UnknownApiError


def test_transport_errors_share_a_root_and_keep_their_own_sentences():
    for cls in (ConnectError, RequestTimeout, ConnectionDropped):
        assert issubclass(cls, TransportError)
    error = HttpStatusError(status=502)
    assert error.status == 502 and str(error) == "HTTP 502" and "HTTP 502" in error.user_message
    assert "did nothing" in error.user_message and "in time" not in error.user_message  # a 502 is an answer


def test_job_failed_carries_the_job_and_its_code():
    job = Job(id="6650a1b2c3d4e5f6a7b8c9d0", status=JobStatus.FAILED, error_code=1108)
    error = JobFailed(job)
    assert error.job is job and error.code == 1108 and job.id in str(error)


def test_job_timed_out_is_also_a_builtin_timeout_error():
    error = JobTimedOut("6650a1b2c3d4e5f6a7b8c9d0", 12.4)
    assert isinstance(error, TimeoutError) and isinstance(error, AkoolError)
    assert (error.job_id, error.timeout) == ("6650a1b2c3d4e5f6a7b8c9d0", 12.4)
    assert "12s" in str(error)


def test_every_exported_error_has_a_docstring_and_a_sentence():
    for name in akool.errors.__all__:
        obj = getattr(akool, name)
        if isinstance(obj, type) and issubclass(obj, AkoolError):
            assert obj.__doc__, name
            assert obj.default_user_message.endswith("."), name


def test_custom_user_message_wins_over_the_default():
    error = InvalidRequest("prompt is empty", user_message="Please write a prompt.")
    assert error.user_message == "Please write a prompt." and error.message == "prompt is empty"
    assert str(AkoolError()) == AkoolError.default_user_message


@pytest.mark.parametrize(
    "error, maybe",
    [
        (errors.ConnectError("no route"), False),
        (errors.InvalidRequest("refused"), False),
        (errors.CannotOperate("used", code=1010), False),
        (errors.RequestTimeout("slow"), True),
        (errors.ConnectionDropped("cut"), True),
        (errors.ProtocolError("garbled"), True),
        (errors.HttpStatusError(status=502), False),  # a gateway's answer: the request was not carried out
        (errors.HttpStatusError(status=504), True),  # the gateway gave up waiting for Akool
        (errors.HttpStatusError(status=404), False),
    ],
)
def test_maybe_accepted_tells_a_sure_refusal_from_an_unknown_outcome(error, maybe):
    assert errors.maybe_accepted(error) is maybe
    assert "try again" not in errors.OutcomeUnknown.default_user_message.lower()
