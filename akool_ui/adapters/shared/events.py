"""``RedisEvents``: the ``EventBus`` port across replicas, over Redis pub/sub.

Every replica's pages subscribe in their own process (``local.events.SubscriptionHub``: no thread per
page); what a replica publishes reaches its own subscriptions at once and is also sent on one Redis
channel, where every other replica's listener thread hears it and hands it to its hub. A message names
the replica that sent it, so a replica never delivers its own events twice.

A poke (a callback heard here for a job another replica polls) goes on the same channel as
``{"from", "poke": job id, "status"}``; the replica that polls the job looks at it at once.

A message is JSON: the event's class name, the record after it (``JobRecord.to_json``) and the image
index for ``ImageReady``/``ImageFailed``. One that does not decode is dropped with a warning. Pub/sub
delivers to whoever listens at the moment: a replica that was disconnected misses what was said
meanwhile, and its pages catch up from the records (the page reloads its history; an API call that
waits reads the records again when it ends).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Callable

import redis

from ...jobs import JobRecord, RecordError
from ...jobs import events as job_events
from ...jobs.events import JobEvent
from ..local.events import Subscription, SubscriptionHub

__all__ = ["RedisEvents", "encode_events", "decode_events"]

log = logging.getLogger(__name__)

_CLASSES = {name: getattr(job_events, name) for name in job_events.__all__
            if isinstance(getattr(job_events, name), type) and issubclass(getattr(job_events, name), JobEvent)}
# After the connection to Redis drops, the listener tries again after this pause.
RECONNECT_SECONDS = 0.5
# How long ``subscribe`` waits for the listener to be subscribed on first use.
READY_SECONDS = 5.0


def encode_events(origin: str, events: list[JobEvent]) -> str:
    items = []
    for event in events:
        item = {"type": type(event).__name__, "record": event.record.to_json()}
        if hasattr(event, "index"):
            item["index"] = int(getattr(event, "index"))
        items.append(item)
    return json.dumps({"from": origin, "events": items}, separators=(",", ":"), ensure_ascii=False)


def decode_events(raw: bytes | str) -> tuple[str, list[JobEvent]]:
    """(origin, events) of a message; ValueError for anything that is not one of ours."""
    return _events_of(_message(raw))


def _message(raw: bytes | str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError("not an events message (not JSON)") from None


def _events_of(message: object) -> tuple[str, list[JobEvent]]:
    try:
        origin, items = str(message["from"]), message["events"]  # type: ignore[index]
        events = []
        for item in items:
            cls = _CLASSES.get(item["type"], JobEvent)
            record = JobRecord.from_json(item["record"])
            events.append(cls(record, int(item["index"])) if "index" in item and hasattr(cls, "index") else cls(record))
        return origin, events
    except (ValueError, KeyError, TypeError, RecordError) as exc:
        raise ValueError(f"not an events message ({type(exc).__name__})") from None


class RedisEvents:
    """Job events for this replica's subscriptions, shared with every replica on ``channel``."""

    def __init__(self, client: redis.Redis, channel: str):
        self._client, self.channel = client, channel
        self.origin = uuid.uuid4().hex
        self.hub = SubscriptionHub()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pubsub: redis.client.PubSub | None = None
        self._poke_handlers: list[Callable[[str, int], None]] = []

    def __repr__(self) -> str:
        return f"RedisEvents(channel={self.channel!r}, subscriptions={len(self.hub)})"

    def __len__(self) -> int:
        return len(self.hub)

    def publish(self, events: list[JobEvent]) -> None:
        if not events:
            return
        self.hub.publish(events)
        self.listen()
        try:
            self._client.publish(self.channel, encode_events(self.origin, events))
        except redis.exceptions.RedisError as exc:  # this replica's pages still heard it
            log.warning("job events could not reach the other replicas (%s)", type(exc).__name__)

    def subscribe(self, job_ids: list[str], *, current: Callable[[str], JobRecord | None]) -> Subscription:
        self.listen()
        return self.hub.subscribe(job_ids, current=current)

    def poke(self, job_id: str, status: int) -> None:
        self.listen()
        message = json.dumps({"from": self.origin, "poke": str(job_id), "status": int(status)}, separators=(",", ":"))
        try:
            self._client.publish(self.channel, message)
        except redis.exceptions.RedisError as exc:  # its poller still looks at its next planned turn
            log.warning("a callback could not be passed to the replica polling its job (%s)", type(exc).__name__)

    def on_poke(self, handler: Callable[[str, int], None]) -> None:
        self._poke_handlers.append(handler)
        self.listen()

    def listen(self) -> None:
        """Start the listener thread (once), and wait a moment for it to be subscribed."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="redis-events", daemon=True)
                self._thread.start()
        self._ready.wait(READY_SECONDS)

    def close(self) -> None:
        self._stop.set()
        pubsub = self._pubsub
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # closing a dropped connection
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._pubsub = pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._ready.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._deliver(message["data"])
            except redis.exceptions.RedisError as exc:
                log.warning("lost the shared event channel (%s); listening again shortly", type(exc).__name__)
                self._stop.wait(RECONNECT_SECONDS)
            finally:
                try:
                    self._pubsub.close() if self._pubsub is not None else None
                except Exception:
                    pass

    def _deliver(self, raw: bytes) -> None:
        try:
            message = _message(raw)
            if isinstance(message, dict) and "poke" in message:
                return self._poked(message)
            origin, events = _events_of(message)
        except ValueError as exc:
            log.warning("dropped a message on the event channel: %s", exc)
            return
        if origin != self.origin:
            self.hub.publish(events)

    def _poked(self, message: dict) -> None:
        """Hand a poke from another replica to the handlers."""
        try:
            origin, job_id, status = str(message["from"]), str(message["poke"]), int(message["status"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("not a poke message") from None
        if origin == self.origin:
            return
        for handler in list(self._poke_handlers):
            try:
                handler(job_id, status)
            except Exception:  # one handler's bug must not stop the channel
                log.exception("handling a poke for job %s failed", job_id)
