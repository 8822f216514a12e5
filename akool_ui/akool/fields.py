"""Every field of a v4 request declared once: what the page, the API, the CLI, the saved files and the job
details do with it.

``ImageRequest`` (models.py) holds each field's one default and its checks; this table says where the
field shows up. The page builds its form values by these names (``ui/sections.py`` makes one widget per
form field, keyed by name), ``/generate`` and the CLI take them by these names, ``image_meta`` writes
the ``saved`` ones into downloads, and a job's details list the ``detail`` ones. Adding a field is a row
here, an attribute (with its check) on ``ImageRequest``, its widget and its ``/generate`` parameter.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .models import MODELS, RESOLUTIONS, SCALES, ImageRequest

__all__ = [
    "RequestField", "FIELDS", "FORM_FIELDS", "SAVED_FIELDS", "field", "defaults", "request_from", "restorable",
    "detail_options", "has_source", "source_url", "with_source", "SOURCE",
]

_DATACLASS_FIELDS = {f.name: f for f in dataclasses.fields(ImageRequest)}


@dataclass(frozen=True)
class RequestField:
    """One ``ImageRequest`` field and the places it appears."""

    name: str  # the ImageRequest attribute: also the form's key, and the key in saved files and records
    help: str  # one sentence: the CLI's --help, the widget's hint
    cli: str | None = None  # the CLI flag (None: not on the command line)
    api: str | None = None  # the /generate parameter (None: not offered there)
    kind: type = str  # what the CLI parses (each of, for a list) it as
    choices: tuple[Any, ...] = ()  # allowed values (listed by the CLI; what a restored value must be)
    source_choices: tuple[Any, ...] = ()  # further values allowed only with a source image (offered then)
    bounds: tuple[float, float] | None = None  # for numbers: the inclusive range
    metavar: str | None = None
    form: bool = True  # a widget on the page
    saved: bool = False  # written into downloaded images, and restored from a dropped one
    detail: bool = False  # in a job's details ("scale: 1:1 · resolution: 1080p")
    image_to_image: bool = False  # means something only with a source image

    @property
    def default(self) -> Any:
        """The one default: ``ImageRequest``'s (a required field, the prompt, defaults to empty)."""
        declared = _DATACLASS_FIELDS[self.name].default
        return "" if declared is dataclasses.MISSING else declared

    def choices_for(self, source: bool) -> tuple[Any, ...]:
        """What may be chosen with (or without) a source image."""
        return (*self.choices, *self.source_choices) if source else self.choices

    def to_widget(self, value: Any) -> Any:
        """A request value as its widget shows it: a list field's page box holds its first item."""
        if self.kind is list:
            items = [value] if isinstance(value, str) else list(value or ())
            return items[0] if items else ""
        return value

    def from_widget(self, value: Any) -> Any:
        """A widget's value as the request takes it (the inverse of ``to_widget``)."""
        if self.kind is list:
            text = str(value or "").strip()
            return [text] if text else []
        return value

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (from a file, a record, an old version) may go back into the form as it is."""
        if self.kind is list:
            return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        if self.choices or self.source_choices:
            return value in (*self.choices, *self.source_choices)
        if self.bounds is not None:
            lo, hi = self.bounds
            return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and lo <= value <= hi)
        return isinstance(value, str) or (value is None and self.default is None)


FIELDS: tuple[RequestField, ...] = (
    RequestField("prompt", "what the image should show", cli="--prompt", api="prompt", saved=True),
    RequestField("negative_prompt", "what it should not show", cli="--negative-prompt", api="negative_prompt",
                 saved=True),
    RequestField("scale", "aspect ratio (Original keeps the source's, image-to-image only)", cli="--scale",
                 api="scale", choices=tuple(s for s in SCALES if s != "Original"), source_choices=("Original",),
                 saved=True, detail=True),
    RequestField("resolution", "1080p or 4k", cli="--resolution", api="resolution", choices=RESOLUTIONS,
                 saved=True, detail=True),
    RequestField("batch_quantity", "how many images (jobs), 1-4", cli="--batch", api="batch", kind=int,
                 bounds=(1, 4)),
    RequestField("source_images", "image-to-image: an http(s) URL of the source picture (repeat for more; "
                 "Akool uses the first)", cli="--source-image", api="source_url", kind=list, metavar="URL"),
    RequestField("similar", "image-to-image: how close to the source, 0-1", cli="--similar", api="similar",
                 kind=float, bounds=(0.0, 1.0), saved=True, detail=True, image_to_image=True),
    RequestField("model_name", "Akool's model (none: Auto, chosen from whether there is a source image)",
                 cli="--model", api="model_name", choices=(None, *MODELS), saved=True),
    RequestField("webhook_url", "Akool calls this URL when the job ends", cli="--webhook", metavar="URL",
                 form=False),
)
_BY_NAME = {f.name: f for f in FIELDS}
SOURCE = "source_images"  # the field the page's source box (an upload or a URL) fills
_LEGACY_SOURCE = "source_image_url"  # the one-URL field of requests saved before the list
FORM_FIELDS = tuple(f for f in FIELDS if f.form)
SAVED_FIELDS = tuple(f.name for f in FIELDS if f.saved)


def field(name: str) -> RequestField:
    return _BY_NAME[name]


def defaults() -> dict[str, Any]:
    """Each field's default, by name."""
    return {f.name: f.default for f in FIELDS}


def request_from(values: Mapping[str, Any], *, as_sent: bool = False) -> ImageRequest:
    """An ``ImageRequest`` from named values; a missing value (or a None, unless ``as_sent``: an API caller's
    null is judged, not defaulted) takes the field's default, and ``ImageRequest`` judges the rest (one
    sentence on anything wrong). Unknown names are ignored."""
    return ImageRequest(**{f.name: values[f.name] for f in FIELDS
                           if f.name in values and (as_sent or values[f.name] is not None)})


def _upgraded(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """A request saved before ``source_images`` as one with it."""
    if SOURCE in values or not values.get(_LEGACY_SOURCE):
        return values
    return {**values, SOURCE: [values[_LEGACY_SOURCE]]}


def source_url(values: Mapping[str, Any]) -> str:
    """The source image's URL in named values (a form, a stored request), or ""."""
    return str(field(SOURCE).to_widget(_upgraded(values).get(SOURCE)) or "").strip()


def with_source(values: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    """``values`` with ``url`` as the source image (none: text-to-image)."""
    return {**values, SOURCE: field(SOURCE).from_widget(url) if field(SOURCE).kind is list else (url or "")}


def has_source(values: Mapping[str, Any]) -> bool:
    """Whether named values (a form, a stored request) are image-to-image."""
    return bool(source_url(values))


def restorable(values: Mapping[str, Any], names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Named values fit to go back into the form: each of ``names`` (all form fields) as given when the
    field accepts it, else its default. What a dropped file or an old record holds is never trusted."""
    chosen = names if names is not None else tuple(f.name for f in FORM_FIELDS)
    values = _upgraded(values)
    return {name: values.get(name) if field(name).accepts(values.get(name)) else field(name).default
            for name in chosen}


def detail_options(request: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A job's settings for its details line, as ``(name, value)``: ``[("scale", "1:1"), ...]``."""
    source = has_source(request)
    return [(f.name, request[f.name] if request.get(f.name) is not None else f.default)
            for f in FIELDS if f.detail and (source if f.image_to_image else request.get(f.name))]
