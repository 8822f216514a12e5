"""The fault matrix's fast subset (``bench/fault_matrix.py`` runs all 54 cells), and the CLI's side of it.

Cells: the 9 whose answer used to be lost (a dropped connection, an answer past the app's wait, a
malformed answer × generate/U1/V1; the 3 dropped ones stay not clear, said plainly, see
docs/outcome-unknown.md), the 3 bare-502 cells (a 502 is an answer: nothing made, a press's
button stays free), and 3 repeat-generate cells (a repeat of an unsettled Generate is held or asked about
first, never sent unasked). Each checks on the simulator's own counts that no second paid job was made.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from akool_ui import cli
from akool_ui.akool.models import ImageRequest
from akool_ui.cli.unknown import EXIT_UNKNOWN
from akool_ui.jobs import RecordState, wording
from akool_ui.service import RepeatUnsettled

from tests.test_cli import env, run  # noqa: F401 - env is a fixture

_spec = importlib.util.spec_from_file_location("fault_matrix", Path(__file__).resolve().parents[1] / "bench" / "fault_matrix.py")
matrix_module = importlib.util.module_from_spec(_spec)
sys.modules["fault_matrix"] = matrix_module  # dataclasses look their module up while the class is made
_spec.loader.exec_module(matrix_module)  # type: ignore[union-attr]
FAULTS = {fault.name: fault for fault in matrix_module.FAULTS}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    made = matrix_module.Matrix(tmp_path_factory.mktemp("matrix"), answer_wait=0.4, late=1.0)
    yield made
    made.close()


def test_the_matrix_has_18_faults_over_every_switch_of_the_simulator():
    from akool_ui.simulator.faults import FAULTS as SWITCHES

    assert len(FAULTS) == 18 and {f.switch for f in FAULTS.values()} == set(SWITCHES)


@pytest.mark.parametrize("action", matrix_module.ACTIONS)
@pytest.mark.parametrize("fault", ["late_answer", "malformed_json", "http_502x3"])
def test_a_cell_ends_clear_without_a_second_paid_job(fault, action, matrix):
    cell = matrix.run(FAULTS[fault], action)
    assert cell.clear, cell.note
    assert cell.second_paid == 0


@pytest.mark.parametrize("button", ["U1", "V1"])
def test_a_lost_press_akool_carried_out_is_said_plainly_and_never_pays_twice(button, matrix):
    """Not clear: Akool's documented answers name no job a press made, so its image cannot be fetched
    without a webhook; the entry says so, the button stays used and the person's re-press is refused."""
    cell = matrix.run(FAULTS["drop_connection"], button)
    assert not cell.clear and cell.second_paid == 0 and "repeat: error CannotOperate" in cell.note, cell.note
    lost = [r for r in matrix.store.intents() if r.button == button and r.search == "gave_up"]
    assert lost and lost[-1].error_message == wording.press_carried_out(button)
    parent = matrix.store.get(lost[-1].parent_id)
    assert button in parent.used_buttons and button in matrix.sim.job(parent.id)["used_buttons"]


def test_a_lost_create_says_so_and_its_repeat_is_asked_about_first(matrix):
    """Not clear either: no lookup finds a create whose answer dropped; the search ends plainly, and a
    repeat is asked, not sent."""
    cell = matrix.run(FAULTS["drop_connection"], "generate")
    assert not cell.clear and cell.second_paid == 0 and "RepeatUnsettled" in cell.note
    [lost] = [r for r in matrix.store.intents() if r.search == "resend_offered"]
    assert "could not be found" in lost.error_message and "charged twice" in lost.error_message


@pytest.mark.parametrize("fault", ["drop_connection", "late_answer", "malformed_json"])
def test_a_repeated_generate_is_held_while_unsettled_and_never_pays_twice(fault, matrix):
    sim = matrix.sim
    sim.reset_faults()
    request = ImageRequest(f"repeat after {fault}", resolution="1080p")
    FAULTS[fault].arm(sim, "create_v4", 3.0)
    made = sim.stats()["creates"]
    outcome, _ = matrix._act("generate", request, None)
    repeats = []
    for _ in range(2):  # the person presses Generate twice more right away
        try:
            matrix.tracker.repeats.check(request, matrix_module.OWNER)
            repeats.append("sent")
            matrix.tracker.submit(request, client=matrix.client, owner=matrix_module.OWNER)
        except RepeatUnsettled as exc:
            repeats.append("asked" if exc.asked else "held")
    if fault == "malformed_json":  # its ids came with the garbled answer: settled at once, a repeat is a new job
        assert outcome == "sent" and repeats == ["sent", "sent"]
        assert sim.stats()["creates"] == made + 3
        return
    assert outcome.startswith("unknown") and repeats[0] in ("held", "asked")
    deadline = time.monotonic() + 15
    while any(r.search == "searching" for r in matrix.store.intents()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first = sim.stats()["creates"] - made
    assert first == 1  # the first Generate made its job; the repeats so far made none
    if fault == "late_answer":  # the late answer settled it: the job is in the history
        assert [r for r in matrix._records() if r.prompt == request.prompt and r.state is not RecordState.UNKNOWN]


def test_the_cli_exits_3_on_a_lost_create_and_refuses_a_repeat_until_resend(env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AKOOL_CACHE_DIR", str(tmp_path))
    before = env.sim.stats()["creates"]
    env.sim.drop_connection(times=1, kinds=("create_v4",))
    code, out, err = run(capsys, "generate", "--prompt", "lost on the way back")
    assert code == EXIT_UNKNOWN and out == "" and "connection dropped" in err and "--resend" in err
    assert env.sim.stats()["creates"] == before + 1
    code, _, err = run(capsys, "generate", "--prompt", "lost on the way back")
    assert code == EXIT_UNKNOWN and "unknown outcome" in err and env.sim.stats()["creates"] == before + 1
    code, out, _ = run(capsys, "generate", "--prompt", "lost on the way back", "--resend")
    assert code == 0 and len(out.split()) == 1 and env.sim.stats()["creates"] == before + 2
    code, _, _ = run(capsys, "generate", "--prompt", "lost on the way back")  # settled: no longer asked
    assert code == 0


def test_the_cli_says_a_lost_press_from_the_parent(env, capsys, monkeypatch):
    monkeypatch.setattr("akool_ui.cli.unknown.PRESS_LOOKS", (0.05, 0.1, 0.2))
    code, out, _ = run(capsys, "generate", "--prompt", "a parent", "--wait")
    assert code == 0
    parent_id = next(j for j in env.sim._book.jobs.values() if j.prompt == "a parent").id
    env.sim.drop_connection(times=1, kinds=("button",))  # carried out, its answer lost: exit 3, said plainly
    code, out, err = run(capsys, "press", "--id", parent_id, "--button", "U2")
    assert code == EXIT_UNKNOWN and out == "" and wording.press_carried_out("U2") in err
    assert "U2" in env.sim.job(parent_id)["used_buttons"]
    env.sim.http_status(502, times=1, kinds=("button",))  # a 502 is an answer: exit 1, the button stays free
    code, _, err = run(capsys, "press", "--id", parent_id, "--button", "V1")
    assert code == 1 and "502" in err and "V1" not in env.sim.job(parent_id)["used_buttons"]
    assert cli  # the package is what runs
