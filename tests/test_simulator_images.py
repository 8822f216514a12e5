"""Rendered results: real JPEGs of the right sizes, distinct per prompt, image-to-image, expiry."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image, ImageDraw

from akool_ui.simulator import SimulatorServer
from akool_ui.simulator import render
from tests.conftest import API_KEY
from tests.test_simulator_support import Api, TinyServer, mean_abs_diff, png_bytes, private_server


@pytest.fixture()
def api(simulator):
    return Api(simulator)


def source_picture(size: tuple[int, int] = (300, 600)) -> Image.Image:
    """A picture nothing generated resembles: black left half, white right half, a red disc."""
    img = Image.new("RGB", size, "black")
    draw = ImageDraw.Draw(img)
    draw.rectangle((size[0] // 2, 0, size[0], size[1]), fill="white")
    draw.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] // 2), fill="red")
    return img


@pytest.fixture(scope="module")
def sources():
    picture = source_picture()
    routes = {"/source.png": (200, "image/png", png_bytes(picture)),
              "/text.txt": (200, "text/plain", b"not an image"),
              "/missing.png": (404, "text/plain", b"no")}
    with TinyServer(lambda method, path, body: routes.get(path, (404, "text/plain", b""))) as server:
        server.picture = picture
        yield server


# -- sizes and formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("scale", "resolution", "size"), [
    ("1:1", "4k", (2160, 2160)),
    ("16:9", "4k", (3840, 2160)),
    ("9:16", "1080p", (1080, 1920)),
    ("4:3", "1080p", (1440, 1080)),
    ("2:3", "1080p", (1080, 1620)),
])
def test_candidates_and_grid_are_jpegs_of_the_requested_aspect_and_size(api, scale, resolution, size):
    doc = api.finished(api.v4(scale=scale, resolution=resolution)["_id"])
    grid = api.image(doc["image"])
    assert grid.size == size
    first = api.image(doc["upscaled_urls"][0])
    assert first.size == size and first.mode == "RGB"
    assert len(set(zip(*[iter(first.resize((16, 16)).tobytes())] * 3))) > 20  # not a flat colour


def test_v3_results_use_the_1080p_mapping(api):
    doc = api.finished(api.v3(scale="3:4")["_id"])
    assert api.image(doc["upscaled_urls"][2]).size == (1080, 1440)


@pytest.mark.parametrize(("scale", "size"), [("1:1", (3840, 3840)), ("16:9", (3840, 2160)), ("3:4", (2880, 3840))])
def test_upscale_result_is_4k_with_a_long_side_of_at_least_3840(api, scale, size):
    parent = api.finished(api.v4(scale=scale, resolution="1080p")["_id"])
    child = api.finished(api.press(parent["_id"], "U3")["_id"])
    img = api.image(child["image"])
    assert img.size == size and max(img.size) >= 3840
    # it is candidate 3, enlarged: closer to it than to candidate 1
    third, first = api.image(parent["upscaled_urls"][2]), api.image(parent["upscaled_urls"][0])
    assert mean_abs_diff(img, third) < mean_abs_diff(img, first)


def test_images_differ_between_prompts_jobs_and_candidates(api):
    a = api.finished(api.v4(prompt="a quiet harbour", resolution="1080p")["_id"])
    b = api.finished(api.v4(prompt="a neon city at night", resolution="1080p")["_id"])
    again = api.finished(api.v4(prompt="a quiet harbour", resolution="1080p")["_id"])
    pics = {name: api.image(url) for name, url in
            (("a1", a["upscaled_urls"][0]), ("a2", a["upscaled_urls"][1]), ("b1", b["upscaled_urls"][0]),
             ("again1", again["upscaled_urls"][0]))}
    for x, y in (("a1", "b1"), ("a1", "a2"), ("a1", "again1")):
        assert mean_abs_diff(pics[x], pics[y]) > 10, (x, y)


def test_variation_stays_close_to_the_candidate_it_varies(api):
    parent = api.finished(api.v4(resolution="1080p")["_id"])
    child = api.finished(api.press(parent["_id"], "V2")["_id"])
    variation = api.image(child["upscaled_urls"][0])
    assert variation.size == (1080, 1080) and api.image(child["image"]).size == (1080, 1080)
    second, fourth = api.image(parent["upscaled_urls"][1]), api.image(parent["upscaled_urls"][3])
    assert mean_abs_diff(variation, second) < mean_abs_diff(variation, fourth)


def test_a_file_is_rendered_once_and_then_served_from_the_cache():
    with private_server() as simulator:
        api = Api(simulator)
        doc = api.finished(api.v4(resolution="1080p")["_id"])
        first = requests.get(doc["upscaled_urls"][1], timeout=10)
        second = requests.get(doc["upscaled_urls"][1], timeout=10)
        head = requests.head(doc["upscaled_urls"][1], timeout=10)
        assert first.content == second.content and head.status_code == 200
        assert int(head.headers["Content-Length"]) == len(first.content) and head.content == b""
        assert "max-age" in first.headers["Cache-Control"]
        assert simulator.sim.stats()["renders"] == 1 and simulator.sim.stats()["file"] == 3


# -- image-to-image -------------------------------------------------------------------------------------


def test_image_to_image_blends_the_source_and_similar_moves_it_closer(api, sources):
    url = sources.url + "/source.png"
    close = api.v4(source_images=[url], similar=1.0, scale="2:3", resolution="1080p")
    loose = api.v4(source_images=[url], similar=0.0, scale="2:3", resolution="1080p")
    plain = api.v4(scale="2:3", resolution="1080p")
    assert close["sub_type"] == 40002 and close["model_name"] == "wavespeed-ai/flux-kontext-dev"
    assert close["source_image"] == url
    pics = {name: api.image(api.finished(job["_id"])["upscaled_urls"][0])
            for name, job in (("close", close), ("loose", loose), ("plain", plain))}
    target = sources.picture.resize((1080, 1620))
    d_close, d_loose, d_plain = (mean_abs_diff(pics[n], target) for n in ("close", "loose", "plain"))
    assert d_close < d_loose < d_plain
    assert d_close < 40
    left, right = pics["close"].getpixel((100, 1400)), pics["close"].getpixel((980, 1400))
    assert sum(left) < sum(right)  # black half stays dark, white half stays light


def test_original_scale_keeps_the_source_aspect_ratio(api, sources):
    job = api.v4(source_images=[sources.url + "/source.png"], scale="Original", resolution="1080p")
    doc = api.finished(job["_id"])
    assert doc["image_status"] == 3
    assert api.image(doc["upscaled_urls"][0]).size == (1080, 2160)  # the source is 300x600


def test_v3_image_to_image_uses_source_image(api, sources):
    job = api.v3(source_image=sources.url + "/source.png")
    doc = api.finished(job["_id"])
    assert doc["source_image"] == sources.url + "/source.png" and doc["image_status"] == 3
    assert mean_abs_diff(api.image(doc["upscaled_urls"][0]), sources.picture) < 100


@pytest.mark.parametrize("path", ["/missing.png", "/text.txt"])
def test_unusable_source_fails_the_job(api, sources, path):
    batch = api.v4(source_images=[sources.url + path], batch_quantity=2)
    for job in batch:
        doc = api.finished(job["_id"])
        assert doc["image_status"] == 4 and doc["error_code"] == 1108


def test_unreachable_source_fails_the_job(api):
    with TinyServer(lambda *a: (200, "text/plain", b"")) as gone:
        url = gone.url + "/x.png"
    doc = api.finished(api.v4(source_images=[url])["_id"])
    assert doc["image_status"] == 4


def test_load_source_rejects_garbage_and_honours_exif_rotation():
    with pytest.raises(Exception):
        render.load_source(b"definitely not an image")
    img = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: displayed 20x40
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    loaded, size = render.load_source(buf.getvalue())
    assert size == (20, 40) and loaded.size == (20, 40)


def test_output_size_mapping():
    assert render.output_size("16:9", "4k") == (3840, 2160)
    assert render.output_size("Original", "1080p", (1000, 100)) == (4320, 1080)  # clamped to 4:1
    assert render.output_size("Original", "4k", (600, 900)) == (2160, 3240)
    assert render.upscale_size((3840, 2160)) == (3840, 2160)
    assert render.base_size((3840, 2160)) == (512, 288)


# -- URL expiry (a private simulator: moving its clock a week must not age the shared one) ------------


def test_urls_expire_with_403_after_the_ttl_and_unknown_files_are_404():
    with SimulatorServer(api_key=API_KEY, speed=50) as server:
        api = Api(server)
        doc = api.finished(api.v4(resolution="1080p")["_id"])
        unfinished = api.v4()["_id"]
        url = doc["upscaled_urls"][0]
        assert requests.get(url, timeout=10).status_code == 200
        server.sim.advance(7 * 86400 - 60)
        assert requests.get(doc["upscaled_urls"][1], timeout=10).status_code == 200
        server.sim.advance(120)
        for expired in (url, doc["image"]):
            response = requests.get(expired, timeout=10)
            assert response.status_code == 403 and b"AccessDenied" in response.content
        assert api.info(doc["_id"])["image"] == doc["image"]  # the job still answers, with dead URLs
        unknown = f"{server.base_url}/1700000000000-{uuid.uuid4()}-1234.jpeg"  # well-formed, never issued
        response = requests.get(unknown, timeout=10)
        assert response.status_code == 404 and b"NoSuchKey" in response.content
        assert requests.get(server.base_url + "/not-a-result.jpeg", timeout=10).status_code == 404
        assert api.info(unfinished)["image_status"] == 3


def test_a_file_of_an_unfinished_job_is_404_until_it_is_done():
    with SimulatorServer(api_key=API_KEY, speed=1.0) as server:
        api = Api(server)
        job_id = api.v4(resolution="1080p")["_id"]
        roles = server.sim._jobs[job_id].files  # names are fixed at creation
        url = f"{server.base_url}/{roles['c1']}"
        assert requests.get(url, timeout=10).status_code == 404
        server.sim.advance(10)
        assert requests.get(url, timeout=10).status_code == 200


def test_tokens_expire_after_their_lifetime():
    with SimulatorServer(api_key=API_KEY, client_id="64db241f6d9e5c4bd136c187") as server:
        api = Api(server)
        token = api.call("token", {"clientId": "64db241f6d9e5c4bd136c187", "clientSecret": API_KEY})["token"]
        bearer = Api(server, api_key=None, headers={"Authorization": f"Bearer {token}"})
        assert bearer.v4()["image_status"] == 1
        server.sim.advance(401 * 86400)
        assert bearer.code("create_v4", {"prompt": "x"}) == 1101
