"""The fault matrix: every simulator fault × {generate, U1, V1}, each cell checked to end "clear".

A cell arms one fault, does the action through the tracker as the page does (the repeat check, then
submit or press), waits for the outcome to settle, and then plays the person: if the history shows no
job for the action, they press once more (not confirming a question), after the fault has passed.

Clear: every job Akool made for the action is in the app's history, finished as it should (succeeded
with its images stored; failed for a failed job; timed out for a stuck one), no unknown outcome is left
unsettled; when Akool made nothing, the action ended in a plain error and pressing again works (a press's
button is offered again). A second paid job: the person's repeat made a job although the first action had
already made one. Prints one line per cell and a final

    fault matrix: cells=54 clear=<n> second_paid_jobs=<n>

    python bench/fault_matrix.py [--answer-wait 2] [--late 3] [--only drop_connection]

``--answer-wait`` is how long the app waits for a create's or press's answer (30 s in the app), ``--late``
the delay of the "answer beyond the wait" fault (35 s in the issue's run; scaled down by default).
Faults and actions are listed in FAULTS and ACTIONS; tests/test_fault_matrix.py runs a subset.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from the repo root without install

from akool_ui.akool.client import AkoolClient  # noqa: E402
from akool_ui.akool.errors import AkoolError, OutcomeUnknown  # noqa: E402
from akool_ui.akool.models import ImageRequest  # noqa: E402
from akool_ui.akool.transport import RetryPolicy  # noqa: E402
from akool_ui.errors import StudioError  # noqa: E402
from akool_ui.jobs import RecordState  # noqa: E402
from akool_ui.simulator import SimulatorServer  # noqa: E402

API_KEY = "MatrixApiKey0123456789ab"  # 24 characters: also the account's client secret (AES-192)
CLIENT_ID = "64db241f6d9e5c4bd136c1aa"
OWNER = "matrix-owner"
ACTIONS = ("generate", "U1", "V1")


@dataclass(frozen=True)
class Fault:
    """One fault switch with its arguments; ``on`` None: the action's own call (create_v4 or button)."""

    name: str
    switch: str
    kwargs: dict[str, Any]
    on: str | None = None
    late: bool = False  # a delay beyond the app's answer wait (its seconds come from --late)

    def arm(self, sim: Any, action_kind: str, late: float) -> None:
        kwargs = dict(self.kwargs)
        if self.switch != "expire_tokens":
            kwargs["kinds"] = [self.on or action_kind]
        if self.late:
            kwargs["seconds"] = late
        getattr(sim, self.switch)(**kwargs)


FAULTS: tuple[Fault, ...] = (
    Fault("http_500", "http_status", {"status": 500}),
    Fault("http_502x3", "http_status", {"status": 502, "times": 3}),
    Fault("http_503", "http_status", {"status": 503}),
    Fault("http_429", "http_status", {"status": 429}),
    Fault("late_answer", "delay", {"seconds": 0.0}, late=True),
    Fault("slow_answer", "delay", {"seconds": 0.3}),
    Fault("drop_connection", "drop_connection", {}),
    Fault("malformed_json", "malformed_json", {}),
    Fault("info_drop_x2", "drop_connection", {"times": 2}, on="info"),
    Fault("info_503x3", "http_status", {"status": 503, "times": 3}, on="info"),
    Fault("info_malformed_x2", "malformed_json", {"times": 2}, on="info"),
    Fault("info_timeout", "delay", {"seconds": 1.5}, on="info"),
    Fault("file_truncated_x2", "truncate_body", {"times": 2}, on="file"),
    Fault("file_502x2", "http_status", {"status": 502, "times": 2}, on="file"),
    Fault("job_fails", "fail_next", {}),
    Fault("call_1108", "fail_next", {"code": 1108}),
    Fault("job_stuck", "stuck_next", {}),
    Fault("tokens_expired", "expire_tokens", {}),
)


@dataclass
class Cell:
    fault: str
    action: str
    clear: bool
    second_paid: int
    note: str


class Matrix:
    """A simulator, a store and a tracker shaped like the app's (token auth, no webhook)."""

    def __init__(self, folder: Path, *, answer_wait: float, late: float, deadline: float = 4.0):
        from tests.store_helpers import StoreWithFiles, tracker_on  # the tests' store: records + result files

        self.late = late
        self.server = SimulatorServer(api_key=API_KEY, client_id=CLIENT_ID, client_secret=API_KEY, speed=20.0)
        self.server.start()
        self.sim = self.server.sim
        self.client = AkoolClient(self.server.base_url, client_id=CLIENT_ID, client_secret=API_KEY,
                                  retry=RetryPolicy(backoff=0.01, max_backoff=0.05), timeout=(2.0, 1.0),
                                  spend_timeout=(2.0, max(late * 4, 5.0)))
        self.store = StoreWithFiles(folder)
        self.tracker = tracker_on(
            self.store, poll_interval=0.1, max_poll_interval=0.3, deadline=deadline, client_for=lambda r: self.client,
            download_retry_pause=(0.05, 0.1), answer_wait=answer_wait, settle_schedule=(0.2, 0.3, 0.5, 1.0, 1.5),
        )
        self.deadline = deadline
        self.counter = 0

    def close(self) -> None:
        self.tracker.close()
        self.client.close()
        self.store.close()
        self.server.stop()

    # --- one cell -----------------------------------------------------------------------------------

    def run(self, fault: Fault, action: str) -> Cell:
        self.sim.reset_faults()
        self.counter += 1
        request = ImageRequest(f"cell {self.counter}: {fault.name} {action}", resolution="1080p")
        parent = self._finished_parent() if action != "generate" else None
        known = {r.id for r in self._records()}
        made_before = self.sim.stats()["creates"]
        fault.arm(self.sim, "create_v4" if action == "generate" else "button", self.late)
        outcome, error = self._act(action, request, parent)
        self._settle(known)
        self.sim.reset_faults()
        made = self.sim.stats()["creates"] - made_before
        mine = [r for r in self._records() if r.id not in known]
        jobs = [r for r in mine if not r.is_intent]
        open_intents = [r for r in mine if r.is_intent]
        expected = {"job_fails": RecordState.FAILED, "job_stuck": RecordState.TIMED_OUT}.get(fault.name,
                                                                                           RecordState.SUCCEEDED)
        notes = [outcome]
        if made:
            clear = len(jobs) == made and not open_intents and all(
                r.state is expected and (expected is not RecordState.SUCCEEDED or r.all_images_stored) for r in jobs)
            if not clear:
                notes.append(f"Akool made {made}, the app shows {[r.state.value for r in mine]}")
                notes.extend(f"entry: {r.error_message}" for r in open_intents if r.error_message)
        else:
            freed = parent is None or (self.store.get(parent.id).can_press(action)
                                       and action not in (self.sim.job(parent.id) or {}).get("used_buttons", []))
            clear = error and not open_intents and not jobs and freed
            if not clear:
                notes.append(f"nothing made; error={error} left={[r.state.value for r in mine]} freed={freed}")
        repeat_made = 0
        if not jobs:  # the person sees no job for what they asked: they press once more
            before = self.sim.stats()["creates"]
            again, _ = self._act(action, request, parent)
            self._settle(known | {r.id for r in mine})
            repeat_made = self.sim.stats()["creates"] - before
            notes.append(f"repeat: {again}")
            if not made and not repeat_made:
                clear, _ = False, notes.append("the repeat made nothing")
        second = 1 if made and repeat_made else 0
        return Cell(fault.name, action, bool(clear) and not second, second, "; ".join(notes))

    def _act(self, action: str, request: ImageRequest, parent: Any) -> tuple[str, bool]:
        """Do the action as the page does; (what happened, whether it ended in a plain error)."""
        try:
            if action == "generate":
                self.tracker.repeats.check(request, OWNER)
                self.tracker.submit(request, client=self.client, owner=OWNER)
            else:
                self.tracker.press(parent.id, action, client=self.client, owner=OWNER)
            return "sent", False
        except OutcomeUnknown as exc:
            return f"unknown ({type(exc.cause).__name__ if exc.cause else 'still listening'})", False
        except (AkoolError, StudioError) as exc:
            return f"error {type(exc).__name__}", True

    def _finished_parent(self) -> Any:
        (record,) = self.tracker.submit(ImageRequest(f"parent {self.counter}", resolution="1080p"),
                                        client=self.client, owner=OWNER)
        self._wait(lambda: self.store.get(record.id).state is RecordState.SUCCEEDED, 20)
        return self.store.get(record.id)

    def _records(self) -> list[Any]:
        return list(self.store.list_jobs(OWNER, limit=10_000).items)

    def _settle(self, known: set[str]) -> None:
        """Until nothing of this cell is in flight or searching (an unknown outcome's search, a late answer)."""
        def settled() -> bool:
            mine = [r for r in self._records() if r.id not in known]
            return all(not r.needs_work and (not r.is_intent or r.search not in ("searching", None)) for r in mine)
        self._wait(settled, self.deadline + self.late * 4 + 10)

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer-wait", type=float, default=2.0)
    parser.add_argument("--late", type=float, default=3.0)
    parser.add_argument("--only", action="append", default=None, help="run only this fault (repeatable)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        matrix = Matrix(Path(folder), answer_wait=args.answer_wait, late=args.late)
        cells = []
        try:
            for fault in FAULTS:
                if args.only and fault.name not in args.only:
                    continue
                for action in ACTIONS:
                    cell = matrix.run(fault, action)
                    cells.append(cell)
                    print(f"{cell.fault:<18} {cell.action:<8} {'clear' if cell.clear else 'NOT CLEAR':<9} {cell.note}",
                          flush=True)
        finally:
            matrix.close()
    clear = sum(c.clear for c in cells)
    print(f"fault matrix: cells={len(cells)} clear={clear} second_paid_jobs={sum(c.second_paid for c in cells)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
