"""The spending ledger on the ``Documents`` port: what a limit check and a recorded spend cost.

A ledger with ``--visitors`` keys (each with a spend, as a busy shared link has in an hour) is checked
and written in three set-ups, in the same run:

    memory      no document (``documents=None``): the ledger in this process only, the cost of the
                checks themselves (what the ledger cost before it was shared, less its file writes)
    local       ``LocalDocuments`` as the app runs it: each check asks the document's version (a read and
                a digest of the file) and parses it again only when another process changed it
    re-parsed   the same, with a version that changes on every look: what each check would cost without
                the cached parse (a full read and parse of ``limits.json`` per check)

and ``local`` once more while a second process writes the ledger as fast as it can (every check then
re-reads). Prints figures; never passes or fails on time.

    python bench/bench_documents.py [--visitors 300] [--checks 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from the repo root without install

from akool_ui.adapters.local import LocalDocuments  # noqa: E402
from akool_ui.jobs import JobRecord  # noqa: E402
from akool_ui.service.quotas.limits import SpendingLimiter  # noqa: E402
from akool_ui.settings import Limits  # noqa: E402

LIMITS = Limits(images_per_hour=10**6, daily_credits=10**9, upload_mb_per_visitor=10**6)

_WRITER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from akool_ui.adapters.local import LocalDocuments
from akool_ui.jobs import JobRecord
from akool_ui.service.quotas.limits import SpendingLimiter
from akool_ui.settings import Limits
limiter = SpendingLimiter(Limits(images_per_hour=10**6, daily_credits=10**9), documents=LocalDocuments(sys.argv[1]),
                          address_key=b"k" * 32)
visitor = limiter.visitor("b-writer", "192.0.2.1")
print("ready", flush=True)
n = 0
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    n += 1
    limiter.record(limiter.check(visitor, 1), [JobRecord.create(f"{n:024x}", "b", request={"prompt": "x"})])
print(n, flush=True)
"""


class ChangingVersion:
    """``LocalDocuments`` whose version never matches twice: every look reads and parses the document."""

    def __init__(self, inner: LocalDocuments):
        self.inner, self.n = inner, 0

    def read(self, name: str) -> Any:
        return self.inner.read(name)

    def version(self, name: str) -> str:
        self.n += 1
        return f"changed-{self.n}"

    def write(self, name: str, value: Any, *, expected: Any) -> str:
        return self.inner.write(name, value, expected=self.inner.version(name))

    def delete(self, name: str) -> None:
        self.inner.delete(name)


def filled(documents: Any, visitors: int) -> SpendingLimiter:
    limiter = SpendingLimiter(LIMITS, documents=documents, address_key=b"k" * 32)
    for i in range(visitors):
        visitor = limiter.visitor(f"b-visitor-{i}", f"198.51.{i // 250}.{i % 250}")
        limiter.record(limiter.check(visitor, 1), [JobRecord.create(f"{i:024x}", "b", request={"prompt": "x"})])
    return limiter


def per_call(fn: Callable[[], None], n: int) -> float:
    """Median microseconds per call over five rounds of ``n // 5``."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(max(1, n // 5)):
            fn()
        rounds.append((time.perf_counter() - start) / max(1, n // 5) * 1e6)
    return statistics.median(rounds)


def measure(name: str, limiter: SpendingLimiter, checks: int) -> None:
    visitor = limiter.visitor("b-visitor-7", "198.51.0.7")
    check = per_call(lambda: limiter.release(limiter.check(visitor, 1)), checks)
    ids = iter(range(10**6, 2 * 10**6))
    record = per_call(lambda: limiter.record(limiter.check(visitor, 1), [
        JobRecord.create(f"{next(ids):024x}", "b", request={"prompt": "x"})]), max(25, checks // 20))
    print(f"{name:<28} check {check:9.1f} us    check + record {record:9.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=300)
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"ledger with {args.visitors} visitor keys")
        measure("memory (not shared)", filled(None, args.visitors), args.checks)
        local = filled(LocalDocuments(folder / "local"), args.visitors)
        print(f"  limits.json: {(folder / 'local' / 'limits.json').stat().st_size} bytes")
        measure("local (cached parse)", local, args.checks)
        measure("re-parsed on every check", filled(ChangingVersion(LocalDocuments(folder / "parse")), args.visitors),
                args.checks)
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(folder / "local"), str(ROOT), "6"],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        measure("local, another process writing", local, args.checks)
        written = int(writer.communicate(timeout=60)[0].strip())
        print(f"  the other process recorded {written} spends meanwhile; this one sees them: "
              f"{local.usage(local.visitor('b-writer', '192.0.2.1'))['images_last_hour']} images")


if __name__ == "__main__":
    main()
