"""The one place that says which gRPC status each of our errors becomes.

The servicer raises our exceptions and never picks a status code itself; job failures record
the same code name, so a failed job and a refused request read the same to a client.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import NoReturn, TypeVar

import grpc

from sonicvision.adapters.errors import MediaNotFoundError, TimelineReadError, TimelineWriteError
from sonicvision.errors import ConfigError, MediaError, RenderError, SonicVisionError

logger = logging.getLogger(__name__)


class ServiceError(SonicVisionError):
    """Something the service itself refuses or cannot find."""


class InvalidRequest(ServiceError):
    """A request field is malformed or out of range."""


class PathNotAllowed(ServiceError):
    """A path lies outside the server's media roots, or climbs out with '..' or a symlink."""


class NotFound(ServiceError):
    """A file the request names does not exist."""


class JobNotFound(NotFound):
    """No job has this id."""


class QueueFull(ServiceError):
    """The job queue is at its bound; the client should retry later."""


class JobStateError(ServiceError):
    """The job is not in a state that allows this (e.g. fetching an unfinished job)."""


class IdempotencyConflict(ServiceError):
    """An idempotency key was reused for a different request."""


class Cancelled(ServiceError):
    """The job was cancelled; raised from the progress callback to unwind the pipeline."""


class ServerStopping(ServiceError):
    """The server is shutting down; raised from the progress callback like Cancelled."""


class ResultDamaged(ServiceError):
    """A stored result file is missing or no longer matches its recorded checksum."""


class RemoteError(SonicVisionError):
    """A call to a SonicVision server failed; carries the gRPC status code."""

    def __init__(self, code: grpc.StatusCode, details: str, address: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"server {address}: {code.name}: {details}")


MAX_DETAILS = 4000

# Most specific first: the first class the exception is an instance of decides.
STATUS: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (PathNotAllowed, grpc.StatusCode.PERMISSION_DENIED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (QueueFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (JobStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (IdempotencyConflict, grpc.StatusCode.ALREADY_EXISTS),
    (Cancelled, grpc.StatusCode.CANCELLED),
    (ServerStopping, grpc.StatusCode.UNAVAILABLE),
    (ResultDamaged, grpc.StatusCode.DATA_LOSS),
    (TimelineReadError, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (TimelineWriteError, grpc.StatusCode.FAILED_PRECONDITION),
    (MediaNotFoundError, grpc.StatusCode.NOT_FOUND),
    (MediaError, grpc.StatusCode.FAILED_PRECONDITION),
    (RenderError, grpc.StatusCode.INTERNAL),
    (PermissionError, grpc.StatusCode.PERMISSION_DENIED),
    (SonicVisionError, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_for(exc: BaseException) -> grpc.StatusCode:
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def is_expected(exc: BaseException) -> bool:
    """Errors we raise on purpose (or the OS refusing a path); anything else is a bug."""
    return isinstance(exc, SonicVisionError | PermissionError)


def message_for(exc: BaseException) -> str:
    """The text a client sees: ours in full; a bug only by its type (details stay in the log)."""
    if is_expected(exc):
        text = str(exc)
        # Details travel as an HTTP/2 header: keep them well under common header limits.
        return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 20] + " ... (truncated)"
    return f"internal error ({type(exc).__name__}); see the server log"


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    if not is_expected(exc):
        logger.exception("unexpected error in an RPC", exc_info=exc)
    context.abort(status_for(exc), message_for(exc))
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


F = TypeVar("F", bound=Callable)


def grpc_method(method: F) -> F:
    """Turn exceptions raised by a servicer method (unary or streaming) into gRPC statuses."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:
                abort(context, exc)

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:
            abort(context, exc)

    return unary  # type: ignore[return-value]
