"""One simulated job and how it looks on the wire at a given moment.

A job never runs anywhere: its status is a pure function of the simulated time, fixed at creation by
``queued_for`` and ``processing_for`` (already divided by the simulator's speed). Everything a job
needs to be rendered again (prompt, seed inputs, sizes, lineage) is in the record, which is also the
JSON persisted under ``--state-dir``.
"""

from __future__ import annotations

import os
import secrets
import string
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from ..akool.models import BUTTONS

__all__ = ["SimJob", "new_object_id", "new_file_name", "new_message_id", "RESULT_SHAPES", "PROVIDER",
           "MODEL_T2I", "MODEL_I2I"]

RESULT_SHAPES = ("candidates", "single", "grid")
PROVIDER = "wavespeed-ai"
MODEL_T2I = "wavespeed-ai/flux-krea-dev-lora"
MODEL_I2I = "wavespeed-ai/flux-kontext-dev"
FACESWAP_QUALITY = 2  # undocumented field that every Akool example carries

_counter = int.from_bytes(os.urandom(3), "big")
_counter_lock = threading.Lock()
_PROCESS_BYTES = os.urandom(5)


def new_object_id(epoch_seconds: float | None = None) -> str:
    """A 24-hex MongoDB-style ObjectId: 4-byte time, 5 random bytes, 3-byte counter."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) & 0xFFFFFF
        count = _counter
    stamp = int(time.time() if epoch_seconds is None else epoch_seconds) & 0xFFFFFFFF
    return (stamp.to_bytes(4, "big") + _PROCESS_BYTES + count.to_bytes(3, "big")).hex()


def new_file_name(epoch_ms: int) -> str:
    """A CDN-looking object name, as seen in Akool URLs: ``<epoch_ms>-<uuid4>-<4 digits>.jpeg``."""
    return f"{epoch_ms}-{uuid.uuid4()}-{secrets.randbelow(9000) + 1000}.jpeg"


def new_message_id() -> str:
    """``op_buttonMessageId``: opaque, 20 alphanumerics in Akool's example."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


@dataclass
class SimJob:
    """A simulated job. Times are simulated epoch seconds; durations simulated seconds."""

    id: str
    uid: int
    team_id: str
    api: str  # "v3" | "v4" | "button": which create endpoint made it
    created: float
    queued_for: float
    processing_for: float
    prompt: str
    negative_prompt: str = ""
    scale: str = "1:1"
    resolution: str = "1080p"
    size: list[int] = field(default_factory=list)  # candidate size [w, h]; known once the source is
    source_url: str = ""
    source_key: str = ""  # which fetched source (shared by a batch) this job blends in
    source_state: str = "none"  # none | pending | ok | failed
    source_done: float | None = None
    similar: float = 0.5
    model_name: str = ""
    webhook_url: str = ""
    parent_id: str = ""
    button: str = ""
    op_message_id: str = ""
    task_id: str = ""
    result_shape: str = "candidates"
    offer_buttons: bool = True
    upscaled_lag: float = 0.0
    fate: str = "ok"  # ok | fail | stuck (set by fail_next / stuck_next)
    credits: int = 1
    used_buttons: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # role ("grid", "c1".."c4", "u") -> file name
    hooks_done: list[int] = field(default_factory=list)  # webhook statuses delivered or given up

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def is_upscale(self) -> bool:
        return self.api == "button" and self.button.startswith("U")

    @property
    def button_index(self) -> int:
        return int(self.button[1]) if self.button else 0

    @property
    def processing_at(self) -> float:
        return self.created + self.queued_for

    @property
    def done_at(self) -> float:
        """When the job ends (or ended); a source still being fetched holds it in processing."""
        end = self.created + self.queued_for + self.processing_for
        if self.source_state in ("ok", "failed") and self.source_done is not None:
            end = max(end, self.source_done)
        return end

    def status(self, now: float) -> int:
        if now < self.processing_at:
            return 1
        if self.fate == "stuck" or self.source_state == "pending" or now < self.done_at:
            return 2
        if self.fate == "fail" or self.source_state == "failed":
            return 4
        return 3

    def error(self) -> tuple[int, str] | None:
        if self.source_state == "failed":
            return 1108, "the source image could not be downloaded or is not an image"
        if self.fate == "fail":
            return 1108, "image generation failed"
        return None

    # --- results ---------------------------------------------------------------------------------

    def result_roles(self) -> tuple[str, tuple[str, ...]]:
        """(role of ``image``, roles of ``upscaled_urls``) once the job has succeeded."""
        if self.is_upscale:
            return "u", ()
        if self.result_shape == "single":
            return "c1", ("c1",)
        if self.result_shape == "grid":
            return "grid", ()
        return "grid", ("c1", "c2", "c3", "c4")

    def offered_buttons(self) -> list[str]:
        if self.is_upscale or self.result_shape == "single" or not self.offer_buttons:
            return []
        return [b for b in BUTTONS if b not in self.used_buttons]

    def to_api(self, now: float, base_url: str) -> dict[str, Any]:
        """The job document as ``infobymodelid`` (and the create calls) answer it at ``now``."""
        status = self.status(now)
        doc: dict[str, Any] = {
            "faceswap_quality": FACESWAP_QUALITY,
            "deduction_credit": 0 if status == 4 else self.credits,  # failed jobs are refunded
            "buttons": [],
            "used_buttons": list(self.used_buttons),
            "upscaled_urls": [],
            "_id": self.id,
            "uid": self.uid,
            "create_time": int(self.created * 1000),
            "type": 4,
            "from": 4 if self.api == "v4" else 1,
            "image_status": status,
        }
        if self.api == "button":
            doc.update({
                "image_content_model_id": self.parent_id,
                "op_button": self.button,
                "op_buttonMessageId": self.op_message_id,
            })
        doc.update({"prompt": " ".join(self.prompt.split()), "origin_prompt": self.prompt,
                    "source_image": self.source_url})
        if self.api == "v4":
            doc.update({
                "team_id": self.team_id,
                "image_sub_status": status,  # undocumented values: the simulator mirrors image_status
                "model_name": self.model_name,
                "provider": PROVIDER,
                "sub_type": 40002 if self.source_url else 40001,
                "file_name": f"ImageGenerator_{int(self.created * 1000)}.png",
                "task_id": self.task_id,
            })
        if status == 3:
            image_role, candidate_roles = self.result_roles()
            doc["image"] = f"{base_url}/{self.files[image_role]}"
            if now >= self.done_at + self.upscaled_lag:
                doc["upscaled_urls"] = [f"{base_url}/{self.files[r]}" for r in candidate_roles]
            doc["buttons"] = self.offered_buttons()
        elif status == 4:
            code, message = self.error() or (1108, "image generation failed")
            doc["error_code"] = code  # simulator extra (Akool documents no failure detail)
            doc["error_msg"] = message
        return doc

    # --- persistence -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SimJob":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
