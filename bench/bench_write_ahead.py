"""The crash window of a create: from "Akool's answer received" to "its jobs' records are durable".

A kill inside that window loses a job Akool made and charged for (the app has no id for it). Starts a
local simulator and, for batches of 1 and 4, times creates two ways, in one run:

* before: what the app did until issue 13 — ``create_images``, then one ``JobStore.put`` per job;
* write-ahead: what ``JobTracker.submit`` does now (``Intents.create``, here without the polling that
  follows) — an intent stored before sending; when the answer arrives its job ids are written into the
  intent first (one small write), then the records are swapped in for it in one transaction
  (``service/intents.py``).

"Answer received" is the moment ``requests`` hands over the response (a session response hook);
"durable" is when the store write that makes the answer's job ids (and then its records) durable
returns. Also prints what the write-ahead costs before sending (the intent's write). Prints figures;
never passes or fails on time.

    python bench/bench_write_ahead.py [--creates 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from the repo root without install

from akool_ui.akool.client import AkoolClient  # noqa: E402
from akool_ui.akool.models import ImageRequest  # noqa: E402
from akool_ui.jobs import JobRecord, lifecycle  # noqa: E402
from akool_ui.adapters.local.store import JobStore  # noqa: E402
from akool_ui.service.runtime.intents import Intents  # noqa: E402
from akool_ui.simulator import SimulatorServer  # noqa: E402

API_KEY = "BenchApiKey0123456789abc"
OWNER = "bench-owner"


class Stamps:
    """When the last create answer arrived, and when each store write returned."""

    def __init__(self) -> None:
        self.answered = 0.0
        self.durable: list[float] = []

    def hook(self, response, *args, **kwargs):
        if response.request.method == "POST":
            self.answered = time.perf_counter()
        return response


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"p50 {statistics.median(values) * 1000:6.2f} ms  p95 {p95 * 1000:6.2f} ms  max {values[-1] * 1000:6.2f} ms"


def before(client: AkoolClient, store: JobStore, stamps: Stamps, batch: int) -> float:
    """The old submit: create, then one put per job; the window ends when the last put returns."""
    jobs = client.create_images(ImageRequest("bench", batch_quantity=batch, resolution="1080p"))
    for job in jobs:
        record = JobRecord.create(job.id, OWNER, request={"prompt": "bench"})
        lifecycle.observe(record, job)
        store.put(record)
    return time.perf_counter() - stamps.answered


def write_ahead(
    client: AkoolClient, intents: Intents, store: JobStore, stamps: Stamps, batch: int
) -> tuple[float, float, float]:
    """The new submit; returns (window until the ids are durable, until the records are, time spent
    writing the intent before sending)."""
    durable: list[float] = []
    ids_durable: list[float] = []
    intent_written: list[float] = []
    replace, put = store.replace, store.put

    def timed_replace(*args, **kwargs):
        result = replace(*args, **kwargs)
        durable.append(time.perf_counter())
        return result

    def timed_put(record):
        started = time.perf_counter()
        result = put(record)
        if record.is_intent and record.answered_ids:
            ids_durable.append(time.perf_counter())
        elif record.is_intent:
            intent_written.append(time.perf_counter() - started)
        return result

    # instance attributes: timing only, the same behaviour
    store.replace, store.put = timed_replace, timed_put
    try:
        intents.create(ImageRequest("bench", batch_quantity=batch, resolution="1080p"), owner=OWNER, webhook_url=None,
                       send=client.create_images)
    finally:
        del store.replace, store.put
    return ids_durable[0] - stamps.answered, durable[-1] - stamps.answered, intent_written[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=40, help="creates per batch size and way (default 40)")
    args = parser.parse_args()
    with SimulatorServer(api_key=API_KEY, speed=50.0) as server, tempfile.TemporaryDirectory() as tmp:
        stamps = Stamps()
        client = AkoolClient(server.base_url, api_key=API_KEY)
        client._session.hooks["response"].append(stamps.hook)  # timing only: when the answer arrived
        with JobStore(Path(tmp) / "before") as old_store, JobStore(Path(tmp) / "after") as new_store:
            intents = Intents(new_store, apply=new_store.update, publish=lambda events: None)  # no subscribers here
            print(f"create answer received -> records durable, {args.creates} creates per row")
            for batch in (1, 4):
                old, new = [], []
                for _ in range(args.creates):  # interleaved, so a busy moment of the machine hits both alike
                    old.append(before(client, old_store, stamps, batch))
                    new.append(write_ahead(client, intents, new_store, stamps, batch))
                print(f"  batch {batch}  before: records durable         {_ms(old)}")
                print(f"  batch {batch}  write-ahead: job ids durable    {_ms([w for w, _, _ in new])}")
                print(f"  batch {batch}  write-ahead: records durable    {_ms([r for _, r, _ in new])}")
                print(f"  batch {batch}  write-ahead: intent written before sending {_ms([i for _, _, i in new])}")
                ratio = statistics.median([w for w, _, _ in new]) / statistics.median(old)
                print(f"  batch {batch}  window p50 ratio (job ids durable, write-ahead / before): {ratio:.2f}")
        client.close()
    print("A kill before the ids are durable leaves the intent (\"outcome unknown\", adopted by a webhook); "
          "after, the restart makes the records from the stored ids. Before, it left nothing.")


if __name__ == "__main__":
    main()
