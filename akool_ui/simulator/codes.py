"""Business codes the simulator answers, and the exception its core raises to answer one.

The codes and their meaning come from akool-api.md §4; the ``msg`` texts are the simulator's own
wording (Akool's real texts are not documented).
"""

from __future__ import annotations

__all__ = ["SimError", "MESSAGES", "OK"]

OK = 1000

MESSAGES: dict[int, str] = {
    1003: "Parameter error",
    1005: "Operation is too frequent",
    1006: "Your quota is not enough",
    1008: "The content you requested does not exist",
    1009: "You do not have permission to operate",
    1010: "This content cannot be operated",
    1011: "This content has already been operated",
    1101: "Invalid authorization or the request token has expired",
    1102: "Authorization cannot be empty",
    1103: "Not paid or payment is overdue",
    1104: "Insufficient credit balance",
    1108: "Image generation error, please try again later",
    1109: "Account does not exist",
    1200: "The account has been banned",
    2001: "Server error",
}


class SimError(Exception):
    """Answer the current request with business ``code`` (HTTP 200 envelope, ``data: null``)."""

    def __init__(self, code: int, detail: str = ""):
        self.code = int(code)
        base = MESSAGES.get(self.code, "Error")
        self.msg = f"{base}: {detail}" if detail else base
        super().__init__(self.msg)
