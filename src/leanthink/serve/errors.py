"""Errors as the OpenAI API shapes them: `{"error": {"message", "type", "param", "code"}}`.

Every refusal the server makes is an `APIError` with an HTTP status; handlers in app.py turn it (and
FastAPI's own 404/405, and anything unexpected, as a 500) into that shape, so a client library sees
the same errors it would see from OpenAI. `x-should-retry: false` tells the official client not to
retry what a retry cannot fix (a timeout at the server's limit, a bad request).
"""

from __future__ import annotations

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
         405: "invalid_request_error", 408: "timeout_error", 413: "invalid_request_error", 415: "invalid_request_error",
         422: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error"}


class APIError(Exception):
    """A request the server refuses or could not finish; `status` is the HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> dict:
        h = {} if self.status in (429, 503) else {"x-should-retry": "false"}
        if self.status == 401:
            h["www-authenticate"] = "Bearer"
        if self.status == 429:
            h["retry-after"] = "1"
        return h


def bad(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 for a field of the request body."""
    return APIError(400, message, param=param, code=code)
