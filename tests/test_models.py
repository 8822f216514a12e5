"""Request validation (nothing invalid is ever sent) and the one wire parser, Job.from_api."""

from __future__ import annotations

import json
import math

import pytest

from akool_ui.akool import (
    ImageRequest,
    InvalidRequest,
    Job,
    JobStatus,
    ProtocolError,
    StatusUpdate,
    V3ImageRequest,
    validate_button,
    validate_job_id,
)
from akool_ui.akool.models import MAX_PROMPT_LENGTH, MAX_URL_LENGTH, validate_source_url

JOB_ID = "662a10df4197b3af58532e89"
SOURCE = "https://example.invalid/source.png"

# The documented examples of akool-api.md §3, verbatim shapes.
V3_CREATE_DATA = {
    "faceswap_quality": 2, "deduction_credit": 2, "buttons": [], "used_buttons": [], "upscaled_urls": [],
    "_id": "64dd82eef0b6684651e90131", "uid": 378337, "create_time": 1692238574633,
    "origin_prompt": "a cat", "source_image": "https://xxx.cloudfront.net/a.png",
    "prompt": "a cat, processed", "type": 4, "from": 1, "image_status": 1,
}
V4_CREATE_DATA = {
    "_id": "6650a1b2c3d4e5f6a7b8c9d0", "uid": 378337, "team_id": "team_123456", "create_time": 1716859314633,
    "prompt": "A majestic mountain landscape", "origin_prompt": "A majestic mountain landscape",
    "source_image": "", "image_status": 1, "image_sub_status": 1, "deduction_credit": 1,
    "model_name": "wavespeed-ai/flux-krea-dev-lora", "provider": "wavespeed-ai",
    "type": 4, "from": 4, "sub_type": 40001, "file_name": "ImageGenerator_1716859314633.png",
}
BUTTON_DATA = {
    "faceswap_quality": 2, "deduction_credit": 2, "buttons": [], "used_buttons": [], "upscaled_urls": [],
    "_id": "6508292f16e5ba407d47d21b", "image_content_model_id": "6508288416e5ba407d47d13f",
    "create_time": 1695033647012, "op_button": "U2", "op_buttonMessageId": "kwZsk6elltno5Nt37VLj",
    "image_status": 1, "from": 1,
}
INFO_DATA = {
    "faceswap_quality": 2, "deduction_credit": 2,
    "buttons": ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"], "used_buttons": [], "upscaled_urls": [],
    "_id": JOB_ID, "create_time": 1714032863272, "uid": 378337, "type": 3, "image_status": 3,
    "image": "https://xxx.cloudfront.net/1714032892336-e0ec9305-e217-4b79-8704-e595a822c12b-8013.png",
}


# -- ImageRequest -----------------------------------------------------------------------------------


def test_image_request_defaults_are_the_apps_and_are_always_sent():
    # Akool's own default resolution is 4k; the app's one default (page, API, CLI: akool/fields.py) is 1080p,
    # the quicker and cheaper one, and it is always sent, so Akool's default never applies by accident.
    req = ImageRequest(prompt="  a red fox  ")
    assert (req.prompt, req.scale, req.resolution, req.batch_quantity, req.similar) == ("a red fox", "1:1", "1080p", 1, 0.5)
    assert not req.is_image_to_image
    assert req.to_payload() == {"prompt": "a red fox", "scale": "1:1", "resolution": "1080p", "batch_quantity": 1}


def test_image_to_image_payload_sends_source_images_list_similar_and_lowercase_webhookurl():
    req = ImageRequest(
        prompt="fox", negative_prompt="blur", scale="Original", resolution="1080p", batch_quantity=3,
        source_images=[" " + SOURCE + " "], similar=0.0, model_name="wavespeed-ai/flux-kontext-dev",
        webhook_url="https://hooks.example.invalid/akool",
    )
    assert req.is_image_to_image
    assert req.to_payload() == {
        "prompt": "fox", "negative_prompt": "blur", "scale": "Original", "resolution": "1080p",
        "batch_quantity": 3, "source_images": [SOURCE], "similar": 0.0,
        "model_name": "wavespeed-ai/flux-kontext-dev", "webhookurl": "https://hooks.example.invalid/akool",
    }


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n "}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": "x" * (MAX_PROMPT_LENGTH + 1)}, "too long"),
        ({"prompt": "x", "negative_prompt": "y" * (MAX_PROMPT_LENGTH + 1)}, "negative prompt is too long"),
        ({"prompt": "x", "scale": "5:4"}, "aspect ratio"),
        ({"prompt": "x", "scale": ""}, "aspect ratio"),
        ({"prompt": "x", "scale": "Original"}, "source image"),
        ({"prompt": "x", "resolution": "8k"}, "resolution"),
        ({"prompt": "x", "batch_quantity": 0}, "batch size"),
        ({"prompt": "x", "batch_quantity": 5}, "batch size"),
        ({"prompt": "x", "batch_quantity": "2.5"}, "batch size"),
        ({"prompt": "x", "batch_quantity": 2.5}, "batch size"),
        ({"prompt": "x", "batch_quantity": None}, "batch size"),
        ({"prompt": "x", "source_images": [SOURCE], "similar": -0.1}, "Similar"),
        ({"prompt": "x", "source_images": [SOURCE], "similar": 1.1}, "Similar"),
        ({"prompt": "x", "source_images": [SOURCE], "similar": math.nan}, "Similar"),
        ({"prompt": "x", "source_images": [SOURCE], "similar": "lots"}, "Similar"),
        ({"prompt": "x", "source_images": ["file:///etc/passwd"]}, "http"),
        ({"prompt": "x", "source_images": ["javascript:alert(1)"]}, "http"),
        ({"prompt": "x", "source_images": ["http://"]}, "http"),
        ({"prompt": "x", "source_images": ["https://a.invalid/x y.png"]}, "http"),
        ({"prompt": "x", "source_images": ["https://a.invalid/" + "x" * MAX_URL_LENGTH]}, "http"),
        ({"prompt": "x", "webhook_url": "ftp://hooks.invalid/"}, "http"),
    ],
)
def test_invalid_image_request_raises_invalid_request_with_a_helpful_sentence(kwargs, hint):
    with pytest.raises(InvalidRequest) as info:
        ImageRequest(**kwargs)
    assert hint.lower() in info.value.user_message.lower()
    assert info.value.user_message.endswith(".")


def test_image_request_round_trips_through_json():
    req = ImageRequest(prompt="fox", source_images=[SOURCE], scale="Original", batch_quantity=2, similar=0.25)
    data = json.loads(json.dumps(req.to_json()))
    assert ImageRequest.from_json({**data, "unknown_field": 1}) == req


def test_v3_request_payload_uses_camelcase_webhookurl_and_source_image():
    assert V3ImageRequest(prompt="fox").to_payload() == {"prompt": "fox", "scale": "1:1", "webhookUrl": ""}
    req = V3ImageRequest(prompt="fox", scale="16:9", source_image_url=SOURCE, webhook_url="https://h.invalid/w")
    assert req.to_payload() == {
        "prompt": "fox", "scale": "16:9", "webhookUrl": "https://h.invalid/w", "source_image": SOURCE,
    }


@pytest.mark.parametrize(
    "kwargs",
    [{"prompt": ""}, {"prompt": "x", "scale": "Original"}, {"prompt": "x", "source_image_url": "data:image/png;base64,AA"},
     {"prompt": "x", "webhook_url": "javascript:x"}],
)
def test_invalid_v3_request_raises_invalid_request(kwargs):
    with pytest.raises(InvalidRequest):
        V3ImageRequest(**kwargs)


# -- ids, buttons, URLs ------------------------------------------------------------------------------


def test_job_id_is_normalised_to_lower_case():
    assert validate_job_id(" 662A10DF4197B3AF58532E89 ") == JOB_ID


@pytest.mark.parametrize(
    "bad", ["../../etc", "aaaa?x=1", JOB_ID[:-1], JOB_ID + "0", "g" * 24, "", None, JOB_ID[:20] + "/../",
            JOB_ID + "\x00", f"{JOB_ID}&image_model_id=1"],
)
def test_bad_job_ids_are_refused(bad):
    with pytest.raises(InvalidRequest) as info:
        validate_job_id(bad)
    assert "job id" in info.value.user_message


@pytest.mark.parametrize(("raw", "canonical"), [("U1", "U1"), ("v4", "V4"), (" u3 ", "U3")])
def test_buttons_are_canonicalised(raw, canonical):
    assert validate_button(raw) == canonical


@pytest.mark.parametrize("bad", ["U5", "V0", "X1", "", None, "U1;rm", "upscale"])
def test_bad_buttons_are_refused(bad):
    with pytest.raises(InvalidRequest) as info:
        validate_button(bad)
    assert "U1-U4" in info.value.user_message


def test_source_url_accepts_http_and_https_only():
    assert validate_source_url("http://a.invalid/x.png") == "http://a.invalid/x.png"
    with pytest.raises(InvalidRequest):
        validate_source_url("//a.invalid/x.png")


# -- Job.from_api --------------------------------------------------------------------------------------


def test_v3_create_example_parses_and_ignores_unknown_fields():
    job = Job.from_api(V3_CREATE_DATA)
    assert job.id == "64dd82eef0b6684651e90131"
    assert job.status is JobStatus.QUEUED and not job.is_done
    assert job.prompt == "a cat"  # origin_prompt: what the person typed
    assert job.created_at == 1692238574633 and job.credits == 2
    assert job.result_urls == () and job.buttons == ()


def test_v4_create_example_parses_model_and_empty_source_as_none():
    job = Job.from_api(V4_CREATE_DATA)
    assert job.model_name == "wavespeed-ai/flux-krea-dev-lora"
    assert job.source_image is None
    assert job.parent_id is None and job.button is None


def test_button_example_parses_lineage():
    job = Job.from_api(BUTTON_DATA)
    assert job.id == "6508292f16e5ba407d47d21b"
    assert job.parent_id == "6508288416e5ba407d47d13f"
    assert job.button == "U2"


def test_info_example_parses_buttons_and_single_image():
    job = Job.from_api(INFO_DATA)
    assert job.succeeded and job.is_done
    assert job.result_urls == (INFO_DATA["image"],)
    assert job.can_press("U1") and not job.can_press("X9")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # grid + the four candidates (v3 initial job / V job): the candidates are the results
        ({"image": "https://c.invalid/grid.png", "upscaled_urls": [f"https://c.invalid/{i}.png" for i in range(4)]},
         tuple(f"https://c.invalid/{i}.png" for i in range(4))),
        # a single image only (U job, or the docs' example with empty upscaled_urls)
        ({"image": "https://c.invalid/one.png", "upscaled_urls": []}, ("https://c.invalid/one.png",)),
        # v4 style: the URL in upscaled_urls[0] and no image
        ({"upscaled_urls": ["https://c.invalid/v4.png"]}, ("https://c.invalid/v4.png",)),
        # the official demo's fallback field
        ({"external_img": "https://c.invalid/ext.png"}, ("https://c.invalid/ext.png",)),
    ],
)
def test_result_urls_cover_every_result_shape(extra, expected):
    job = Job.from_api({"_id": JOB_ID, "image_status": 3, **extra})
    assert job.result_urls == expected


def test_used_button_cannot_be_pressed_again():
    job = Job.from_api({**INFO_DATA, "buttons": ["U1", "U2"], "used_buttons": ["U1"]})
    assert not job.can_press("U1") and job.can_press("U2")


@pytest.mark.parametrize(
    "data",
    [None, [], "x", {"image_status": 1}, {"_id": "../../etc", "image_status": 1}, {"_id": 12, "image_status": 1},
     {"_id": JOB_ID, "image_status": 9}, {"_id": JOB_ID, "image_status": "done"},
     {"_id": JOB_ID, "image_status": 3, "buttons": "U1"}],
)
def test_malformed_job_objects_raise_protocol_error(data):
    with pytest.raises(ProtocolError):
        Job.from_api(data)


def test_failed_job_keeps_error_code_and_message():
    job = Job.from_api({"_id": JOB_ID, "image_status": 4, "error_code": 1108, "error_msg": "gpu on fire"})
    assert job.status is JobStatus.FAILED and job.is_done and not job.succeeded
    assert (job.error_code, job.error_message) == (1108, "gpu on fire")


def test_job_round_trips_through_json():
    job = Job.from_api({**BUTTON_DATA, "image_status": 3, "upscaled_urls": ["https://c.invalid/a.png"],
                        "buttons": ["U1"], "used_buttons": ["V2"], "model_name": "m"})
    assert Job.from_json(json.loads(job.dumps())) == job
    assert Job.from_json({**job.to_json(), "added_later": True}) == job
    assert job.to_json()["status"] == 3 and isinstance(job.to_json()["buttons"], list)


@pytest.mark.parametrize(
    ("status", "done", "label"),
    [(JobStatus.QUEUED, False, "queued"), (JobStatus.PROCESSING, False, "processing"),
     (JobStatus.SUCCEEDED, True, "done"), (JobStatus.FAILED, True, "failed")],
)
def test_job_status_knows_when_it_is_terminal(status, done, label):
    assert status.is_done is done and status.label == label


def test_status_update_exposes_the_job_status():
    update = StatusUpdate(job=Job(id=JOB_ID, status=JobStatus.PROCESSING), elapsed=1.5, polls=2)
    assert update.status is JobStatus.PROCESSING and update.changed


def test_model_name_is_auto_unless_chosen_and_must_fit_the_job():
    from akool_ui.akool.models import MODELS

    assert ImageRequest(prompt="x").model_name is None and "model_name" not in ImageRequest(prompt="x").to_payload()
    assert ImageRequest(prompt="x", model_name="  ").model_name is None
    t2i, i2i = (m for m in MODELS)
    assert ImageRequest(prompt="x", model_name=t2i).to_payload()["model_name"] == t2i
    assert ImageRequest(prompt="x", model_name=i2i, source_images=[SOURCE]).model_name == i2i
    for bad in ({"model_name": i2i}, {"model_name": t2i, "source_images": [SOURCE]}, {"model_name": "gpt-image"}):
        with pytest.raises(InvalidRequest) as info:
            ImageRequest(prompt="x", **bad)
        assert info.value.user_message.endswith(".")
