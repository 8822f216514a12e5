"""The runtime: every job in flight, polled once and downloaded once however many watch it.

Public surface: ``JobTracker`` (submit, press, track, check again, stop, resume, webhooks), what it hands
out (``Subscription`` of ``jobs.events``), and the pieces bootstrap wires in (``Callbacks``, ``Pacing``,
``DurationBook``, ``INTENT_PARAM``, ``WEBHOOK_ROUTE``). The rest (scheduler, turns, intents, poll budgets,
subscriptions) is internal to this package.
"""

from .callbacks import WEBHOOK_ROUTE, Callbacks
from .durations import DurationBook, scaled_prior
from .intents import INTENT_PARAM
from .pacing import Pacing
from .repeats import RepeatUnsettled
from .tracker import JobTracker, Subscription

__all__ = ["JobTracker", "Subscription", "RepeatUnsettled", "Callbacks", "Pacing", "DurationBook", "scaled_prior", "INTENT_PARAM",
           "WEBHOOK_ROUTE"]
