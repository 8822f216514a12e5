"""Each injectable fault, seen on the wire (requests and a raw socket), and what the server did."""

from __future__ import annotations

import inspect
import json
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from akool_ui.simulator import RemoteSimulator, Simulator
from akool_ui.simulator.app import PATHS
from akool_ui.simulator.faults import FAULTS, FaultSwitches
from tests.conftest import API_KEY
from tests.test_simulator_support import Api


@pytest.fixture()
def api(simulator):
    return Api(simulator)


def raw_exchange(base_url: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send one request on a fresh socket and read until the server closes it (or 5 s)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nx-api-key: {API_KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:  # pragma: no cover - would mean the server kept the socket open
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                header_blob, _, rest = data.partition(b"\r\n\r\n")
                length = [ln for ln in header_blob.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if length and len(rest) >= int(length[0].split(b":")[1]):
                    break  # a complete answer: the connection may stay open
    header_blob, _, payload = data.partition(b"\r\n\r\n")
    lines = header_blob.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, payload


def creates(simulator) -> int:
    return simulator.sim.stats()["creates"]


def test_http_status_answers_a_bare_error_page_without_processing(simulator, api):
    simulator.sim.http_status(502, times=2, kinds=["create_v4"])
    before = creates(simulator)
    for _ in range(2):
        response = api.post("create_v4", {"prompt": "x"})
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("text/html") and b"502 Bad Gateway" in response.content
    assert creates(simulator) == before  # nothing was created
    assert api.v4()["image_status"] == 1  # times=2 used up
    assert creates(simulator) == before + 1


def test_http_status_only_hits_the_listed_kinds(simulator, api):
    job_id = api.v4()["_id"]
    simulator.sim.http_status(503, times=1, kinds="info")
    assert api.v4()["image_status"] == 1
    assert api.info_raw(job_id).status_code == 503
    assert api.info_raw(job_id).status_code == 200


def test_http_status_on_files_and_tokens(simulator, api):
    doc = api.finished(api.v4(resolution="1080p")["_id"])
    simulator.sim.http_status(504, kinds=["file"])
    assert requests.get(doc["image"], timeout=5).status_code == 504
    assert requests.get(doc["image"], timeout=5).status_code == 200
    simulator.sim.http_status(500, kinds=["token"])
    assert api.post("token", {"clientId": "a", "clientSecret": "b"}).status_code == 500


def test_times_none_keeps_a_fault_armed_until_reset(simulator, api):
    job_id = api.v4()["_id"]
    simulator.sim.http_status(502, times=None, kinds=["info"])
    for _ in range(5):
        assert api.info_raw(job_id).status_code == 502
    assert simulator.sim.active_faults()[0]["remaining"] is None
    simulator.sim.reset_faults()
    assert api.info_raw(job_id).status_code == 200


def test_the_oldest_matching_fault_is_used_first(simulator, api):
    job_id = api.v4()["_id"]
    simulator.sim.http_status(500, kinds=["info"])
    simulator.sim.http_status(503, kinds=["info"])
    assert [api.info_raw(job_id).status_code for _ in range(3)] == [500, 503, 200]


def test_delay_processes_the_create_then_answers_late(simulator, api):
    simulator.sim.delay(0.8, kinds=["create_v4"])
    before = creates(simulator)
    with pytest.raises(requests.ReadTimeout):
        api.post("create_v4", {"prompt": "slow answer"}, timeout=0.3)
    assert creates(simulator) == before + 1  # the job exists although the client gave up
    simulator.sim.delay(0.3, kinds=["create_v4"])
    start = time.monotonic()
    assert api.v4()["image_status"] == 1
    assert time.monotonic() - start >= 0.3


def test_delay_does_not_block_other_requests(simulator, api):
    job_id = api.v4()["_id"]
    simulator.sim.delay(5.0, kinds=["create_v3"])
    slow = threading.Thread(target=lambda: api.post("create_v3", {"prompt": "x"}, timeout=10))
    slow.start()
    deadline = time.monotonic() + 10
    while simulator.sim.stats()["create_v3"] < 1:  # wait until the slow request is being held
        assert time.monotonic() < deadline, "the delayed request never arrived"
        time.sleep(0.01)
    Api(simulator).info(job_id)
    assert slow.is_alive()  # answered while the delayed request was still waiting
    slow.join()


def test_drop_connection_processes_then_sends_headers_and_hangs_up(simulator, api):
    simulator.sim.drop_connection(kinds=["create_v4"])
    before = creates(simulator)
    status, headers, payload = raw_exchange(simulator.base_url, "POST", PATHS["create_v4"],
                                            json.dumps({"prompt": "lost answer"}).encode())
    assert status == 200 and int(headers["content-length"]) > 100 and payload == b""
    assert creates(simulator) == before + 1
    simulator.sim.drop_connection(kinds=["info"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # urllib3: IncompleteRead(0 bytes read)
        api.info_raw("0" * 24)


def test_malformed_json_processes_then_answers_half_a_body(simulator, api):
    simulator.sim.malformed_json(kinds=["create_v4"])
    before = creates(simulator)
    response = api.post("create_v4", {"prompt": "garbled"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert creates(simulator) == before + 1


def test_malformed_json_defaults_to_json_endpoints_only(simulator, api):
    doc = api.finished(api.v4(resolution="1080p")["_id"])
    simulator.sim.malformed_json()
    api.image(doc["image"])  # files are not touched by default
    with pytest.raises(ValueError):
        api.info_raw(doc["_id"]).json()


def test_truncate_body_promises_the_whole_file_and_sends_half(simulator, api):
    doc = api.finished(api.v4(resolution="1080p")["_id"])
    full = requests.get(doc["upscaled_urls"][0], timeout=5).content
    simulator.sim.truncate_body()
    path = "/" + doc["upscaled_urls"][0].rsplit("/", 1)[1]
    status, headers, payload = raw_exchange(simulator.base_url, "GET", path)
    assert status == 200 and int(headers["content-length"]) == len(full)
    assert payload == full[: len(full) // 2]
    simulator.sim.truncate_body(times=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(doc["upscaled_urls"][0], timeout=5).content
    assert requests.get(doc["upscaled_urls"][0], timeout=5).content == full


def test_truncate_body_can_hit_json_too(simulator, api):
    simulator.sim.truncate_body(kinds=["info"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.info_raw("0" * 24)


def test_faults_are_counted_in_stats_like_any_request(simulator, api):
    job_id = api.v4()["_id"]
    simulator.sim.http_status(502, times=3, kinds=["info"])
    for _ in range(4):
        api.info_raw(job_id)
    assert simulator.sim.stats()["info_polls"][job_id] == 4


# -- one registry of fault names (faults.FAULTS) -------------------------------------------------------

# RemoteSimulator's methods that are not fault switches: the clock, counters, options and inspection.
REMOTE_CONTROL_METHODS = {"now", "advance", "active_faults", "reset_faults", "stats", "reset_stats", "options",
                          "set_options", "add_account", "set_credit", "job", "close"}
SAMPLE_ARGUMENTS = {"delay": {"seconds": 0.0}}  # a switch with a required argument


def _parameters(fn) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_remote_simulator_offers_exactly_the_registry_faults():
    public = {name for name in dir(RemoteSimulator)
              if not name.startswith("_") and callable(getattr(RemoteSimulator, name))}
    assert public - REMOTE_CONTROL_METHODS == set(FAULTS)
    assert public <= set(dir(Simulator)), "the remote has the in-process simulator's method names"


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_registry_fault_has_one_signature_in_process_and_remote(name):
    switch = getattr(FaultSwitches, name)
    for twin in (getattr(Simulator, name), getattr(RemoteSimulator, name)):
        assert _parameters(twin) == _parameters(switch)
        assert inspect.getdoc(twin) == inspect.getdoc(switch)


def test_the_control_route_knows_exactly_the_registry_faults(simulator):
    answer = requests.post(simulator.base_url + "/_sim/faults/no_such_fault", json={}, timeout=5)
    assert answer.status_code == 404
    assert answer.json()["detail"].endswith("known: " + ", ".join(FAULTS))


@pytest.mark.parametrize("name", [name for name, spec in FAULTS.items() if spec.armed_as])
def test_an_armed_switch_shows_under_its_registered_name_and_default_kinds(simulator, name):
    spec = FAULTS[name]
    getattr(simulator.sim, name)(**SAMPLE_ARGUMENTS.get(name, {}))
    (armed,) = simulator.sim.active_faults()
    assert armed["name"] in spec.armed_as
    assert armed["kinds"] == sorted(spec.default_kinds)


def test_every_registry_fault_is_documented_in_the_simulator_readme():
    readme = (Path(__file__).parent.parent / "akool_ui" / "simulator" / "README.md").read_text("utf-8")
    for name in FAULTS:
        assert f"`{name}(" in readme, name
