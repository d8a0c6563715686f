"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, for islands'
own failures, FastAPI's 404/405 and anything a route raises on purpose (`ApiError`)."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from islands.errors import ContextFull, InvalidInput, TooManyBranches

__all__ = ["ApiError", "error_body", "from_islands", "install_error_handlers", "param_of"]

_PARAM = re.compile(r"^invalid ([a-z_]+)=")


class ApiError(Exception):
    """A request that fails with `status` and an OpenAI-shaped body."""

    def __init__(self, status: int, message: str, code: str = "invalid_request_error", param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict[str, dict[str, str | None]]:
    kind = "authentication_error" if status == 401 else "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def param_of(e: InvalidInput) -> str | None:
    """The request field an islands error names ("invalid temperature=-1: …" -> temperature)."""
    found = _PARAM.match(str(e))
    return found.group(1) if found else None


def from_islands(e: BaseException) -> ApiError:
    if isinstance(e, ApiError):
        return e
    if isinstance(e, ContextFull):
        return ApiError(400, str(e), "context_length_exceeded")
    if isinstance(e, InvalidInput):
        return ApiError(400, str(e), "invalid_request_error", param_of(e))
    if isinstance(e, TooManyBranches):
        return ApiError(503, str(e), "server_busy")
    return ApiError(500, f"{type(e).__name__}: {e}", "server_error")


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, ApiError)
        return JSONResponse(error_body(e.status, e.message, e.code, e.param), status_code=e.status)

    async def http_error(request: Request, e: Exception) -> JSONResponse:
        assert isinstance(e, HTTPException)
        if e.status_code == 404:
            message, code = f"unknown path {request.url.path}", "not_found"
        elif e.status_code == 405:
            message, code = f"method {request.method} not allowed on {request.url.path}", "method_not_allowed"
        else:
            message, code = str(e.detail), "http_error"
        return JSONResponse(error_body(e.status_code, message, code), status_code=e.status_code, headers=e.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
