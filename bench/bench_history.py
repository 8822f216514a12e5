"""History paging on a large store: JobStore's owner index versus a naive scan of every record.

Fills a temporary store with 10 000 job records for one owner plus records of other owners, then times
the calls the History tab makes: the first page, a deep page reached by cursor, a full walk of all pages,
prompt searches (common, rare, none), ``get`` and ``in_flight``. The baseline, measured in the same run,
is what a store without an index would do: read every record, keep the owner's, sort, slice.

Prints figures; never passes or fails on time.

    python bench/bench_history.py [--jobs 10000] [--noise 5000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from the repo root without install

from akool_ui.jobs import ImageState, JobRecord, RecordState, lifecycle  # noqa: E402
from akool_ui.adapters.local.store import JobStore  # noqa: E402

OWNER = "bench-owner-5b1f0c"
WORDS = (
    "red fox lighthouse dusk neon city rain portrait cat astronaut forest castle ocean mountain "
    "watercolor cyberpunk robot garden dragon desert sunset snow street cafe vintage cinematic"
).split()
PAGE = 20


def make_record(rng: random.Random, n: int, owner: str, created: float) -> JobRecord:
    words = rng.sample(WORDS, 6)
    if n % 100 == 0:
        words.append("zebra")  # 1 % of the owner's jobs: a rare search term
    record = JobRecord.create(
        f"{n:024x}",
        owner,
        request={"prompt": " ".join(words), "scale": "16:9", "resolution": "4k", "batch_quantity": 4},
        batch_id=f"batch-{n // 4}",
        batch_index=n % 4,
        now=created,
    )
    record.set_state(RecordState.PROCESSING, at=created + 2)
    record.set_state(RecordState.DOWNLOADING, at=created + 35)
    lifecycle.set_remote_urls(record, [f"https://cdn.example.com/{n:024x}/{i}.png" for i in range(4)])
    for entry in record.images:
        entry.state = ImageState.STORED
        entry.original = f"images/{record.id[:2]}/{record.id}/{entry.index}.png"
        entry.preview = f"images/{record.id[:2]}/{record.id}/{entry.index}.preview.webp"
        entry.width, entry.height, entry.nbytes, entry.attempts = 2048, 1152, 3_500_000, 1
    record.buttons = ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    record.set_state(RecordState.SUCCEEDED, at=created + 40)
    return record


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def row(name: str, samples: list[float], baseline: float | None = None) -> None:
    p50, p95 = statistics.median(samples), pct(samples, 0.95)
    ratio = f"{baseline / p50:8.0f}x" if baseline else ""
    print(f"  {name:<44} {p50:9.2f} {p95:9.2f} {len(samples):6d} {ratio}")


def naive_page(store: JobStore, ids: list[str], owner: str, offset: int, query: str | None = None) -> list[JobRecord]:
    """No index: read every record, keep the owner's (and matching), sort newest first, slice a page."""
    mine = []
    for job_id in ids:
        record = store.get(job_id)
        if record is not None and record.owner == owner and (not query or query in record.prompt.casefold()):
            mine.append(record)
    mine.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return mine[offset : offset + PAGE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="records of the measured owner")
    parser.add_argument("--noise", type=int, default=5_000, help="records of 50 other owners")
    parser.add_argument("--repeat", type=int, default=200, help="samples per indexed measurement")
    parser.add_argument("--baseline-repeat", type=int, default=5, help="samples per naive-scan measurement")
    args = parser.parse_args()

    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="akool-bench-") as tmp:
        store = JobStore(Path(tmp) / "cache")
        total = args.jobs + args.noise
        owners = [OWNER] * args.jobs + [f"other-owner-{i % 50}" for i in range(args.noise)]
        rng.shuffle(owners)  # the noise is interleaved in time with the owner's jobs
        records = [make_record(rng, n, owner, 1.7e9 + n * 7.0) for n, owner in enumerate(owners, start=1)]
        all_ids = [r.id for r in records]
        size = sum(len(r.dumps()) for r in records) / len(records)

        start = time.perf_counter()
        for record in records[:1000]:
            store.put(record)
        single = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(1000, total, 500):
            store.put_many(records[i : i + 500])
        bulk = time.perf_counter() - start

        print(f"akool history bench: {args.jobs} records for one owner + {args.noise} of 50 other owners")
        print(f"  record size ~{size:.0f} bytes of JSON; cache dir {store.cache_dir}")
        print(f"  fill: put() {1000 / single:,.0f} records/s one per transaction; "
              f"put_many() {(total - 1000) / bulk:,.0f} records/s in batches of 500")
        print()
        print(f"  {'measurement (page of 20)':<44} {'p50 ms':>9} {'p95 ms':>9} {'n':>6} {'vs naive':>9}")

        # --- baseline: a store without an index ---------------------------------------------------------
        naive_first = timed(lambda: naive_page(store, all_ids, OWNER, 0), args.baseline_repeat)
        deep_offset = (args.jobs // 2 // PAGE) * PAGE
        naive_deep = timed(lambda: naive_page(store, all_ids, OWNER, deep_offset), args.baseline_repeat)
        naive_query = timed(lambda: naive_page(store, all_ids, OWNER, 0, "zebra"), args.baseline_repeat)
        print("  baseline: naive scan (read all, filter, sort)")
        row("first page", naive_first)
        row(f"page at offset {deep_offset}", naive_deep)
        row("search 'zebra' (1% match), first page", naive_query)

        # --- the store's index -------------------------------------------------------------------------
        print("  JobStore owner index + cursors")
        first = timed(lambda: store.list_jobs(OWNER, limit=PAGE), args.repeat)
        row("first page", first, statistics.median(naive_first))

        cursor = None
        walk = []
        pages = 0
        while True:
            t0 = time.perf_counter()
            page = store.list_jobs(OWNER, limit=PAGE, cursor=cursor)
            walk.append((time.perf_counter() - t0) * 1000)
            pages += 1
            if pages == deep_offset // PAGE:
                deep_cursor = page.next_cursor
            cursor = page.next_cursor
            if cursor is None:
                break
        deep = timed(lambda: store.list_jobs(OWNER, limit=PAGE, cursor=deep_cursor), args.repeat)
        row(f"page at offset {deep_offset} (by cursor)", deep, statistics.median(naive_deep))
        row(f"every page, walking all {pages} by cursor", walk)
        searches = {
            "search 'zebra' (1% match), first page": "zebra",
            "search 'fox' (~25% match), first page": "fox",
            "search 'unicorn' (no match: full scan)": "unicorn",
        }
        for name, needle in searches.items():
            samples = timed(lambda: store.list_jobs(OWNER, limit=PAGE, query=needle), args.repeat)
            row(name, samples, statistics.median(naive_query) if needle == "zebra" else None)
        zebra = store.list_jobs(OWNER, limit=PAGE, query="zebra")
        deep_search = timed(lambda: store.list_jobs(OWNER, limit=PAGE, query="zebra", cursor=zebra.next_cursor),
                            args.repeat)
        row("search 'zebra', second page (by cursor)", deep_search)
        row("count_jobs(owner)", timed(lambda: store.count_jobs(OWNER), args.repeat))
        row("get(job_id)", timed(lambda: store.get(rng.choice(all_ids)), args.repeat))
        row("in_flight() (nothing in flight)", timed(store.in_flight, args.repeat))

        check = [r.id for r in store.list_jobs(OWNER, limit=PAGE).items]
        expected = [r.id for r in naive_page(store, all_ids, OWNER, 0)]
        print()
        print(f"  first page identical to the naive result: {json.dumps(check == expected)}")
        store.close()


if __name__ == "__main__":
    main()
