"""Quotas: what a visitor on the server's credentials may spend (images an hour, in flight, per network,
the app's rate and daily credits) and upload, and whom a request is counted under.

Public surface: ``Budgets`` (the Studio's), ``SpendingLimiter``, ``LimitReached``, ``Visitor``,
``ClientAddress`` and the credit estimates the page shows (``estimate_credits``, ``credits_of``).
"""

from .budgets import Budgets, Spending
from .limits import LimitReached, SpendingLimiter, credits_of, estimate_credits
from .visitors import ClientAddress, Visitor

__all__ = ["Budgets", "Spending", "SpendingLimiter", "LimitReached", "credits_of", "estimate_credits",
           "ClientAddress", "Visitor"]
