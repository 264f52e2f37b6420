"""What the server lets in: who may call (token), where it may bind, and which files it reads.

Loopback without credentials is the default; any other address needs TLS and a token, so a
GPU box on a network never serves jobs in the clear or to anyone. The server reads files only
under its media roots: a path with ``..``, a symlink that leaves a root, a device or FIFO, or
an oversized file is refused with the path named.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
import stat
import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path, PurePath

import grpc

from sonicvision.errors import ConfigError

from .errors import InvalidRequest, NotFound, PathNotAllowed

logger = logging.getLogger(__name__)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
MAX_NAME = 200
MAX_PATH = 4096


class RateLimitedLog:
    """A repeated event logged once per interval, with how often it happened meanwhile.

    Failed logins and refused connections come as fast as an attacker sends them; one line a
    minute says the same without filling the disk.
    """

    def __init__(
        self,
        log: logging.Logger,
        message: str,
        interval_s: float = 60.0,
        level: int = logging.WARNING,
    ) -> None:
        self._log, self._message, self._interval, self._level = log, message, interval_s, level
        self._lock = threading.Lock()
        self._last = -math.inf
        self._suppressed = 0

    def note(self, *args) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        text = self._message % args
        if suppressed:
            text += f" (and {suppressed} more in the last {self._interval:.0f} s)"
        self._log.log(self._level, text)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, *, tls: bool, token: str | None) -> None:
    """Refuse to serve beyond this machine without both TLS and a token."""
    if is_loopback(host):
        return
    missing = [what for what, ok in (("TLS cert and key", tls), ("a token", bool(token))) if not ok]
    if missing:
        raise ConfigError(
            f"binding {host!r} (not loopback) needs {' and '.join(missing)}: "
            "pass --tls-cert/--tls-key and --token/--token-file, or bind 127.0.0.1",
            field="host",
        )


class PathGuard:
    """Checks that paths a client names lie under the server's media roots."""

    def __init__(self, roots: Sequence[str | Path]) -> None:
        self.roots: list[Path] = []
        for root in roots:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise ConfigError("media root is not a folder", path=path, field="media-root")
            self.roots.append(path.resolve())

    def contains(self, path: Path) -> bool:
        """Whether ``path``, with every symlink followed, lies under a root."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a name too long, a symlink loop: not ours to read
            return False
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def _named(self, text: str, field: str) -> Path:
        """A client's path string: absolute, no NUL, no '..', and (followed) under a root."""
        if not text or "\x00" in text or len(text) > MAX_PATH:
            raise InvalidRequest(
                f"path is empty, longer than {MAX_PATH} characters or has a NUL byte",
                path=repr(text[:200]),
                field=field,
            )
        path = Path(text)
        if not path.is_absolute():
            raise InvalidRequest("path must be absolute (on the server)", path=text, field=field)
        if ".." in PurePath(text).parts:
            raise PathNotAllowed("path contains '..'; refused", path=text, field=field)
        if not self.contains(path):
            raise PathNotAllowed(self._outside(), path=text, field=field)
        return path.resolve()

    def _outside(self) -> str:
        if not self.roots:
            return "the server has no media roots, so it reads no files (see --media-root)"
        return "path is outside the server's media roots (or a symlink leads out of them)"

    def file(self, text: str, field: str, max_bytes: int | None = None) -> Path:
        """A regular file under a root, no larger than ``max_bytes``."""
        real = self._named(text, field)
        st = self._stat(real, text, field)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidRequest(
                "not a regular file (a folder, device or pipe); refused", path=text, field=field
            )
        if max_bytes is not None and st.st_size > max_bytes:
            raise InvalidRequest(
                f"file is {st.st_size} bytes, over the server's limit of {max_bytes}",
                path=text,
                field=field,
            )
        return real

    def folder(self, text: str, field: str) -> Path:
        real = self._named(text, field)
        if not stat.S_ISDIR(self._stat(real, text, field).st_mode):
            raise InvalidRequest("not a folder", path=text, field=field)
        return real

    def media(self, path: Path, clip: str) -> Path:
        """A media file the pipeline is about to read, as the resolver found it."""
        if not self.contains(path):
            raise PathNotAllowed(
                f"media for this clip resolves outside the server's media roots; {self._hint()}",
                path=path,
                clip=clip,
            )
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InvalidRequest("media is not a regular file; refused", path=path, clip=clip)
        return path

    def _hint(self) -> str:
        # The roots themselves are the server's business: a client is told how, not where.
        return "the server's admin adds roots with --media-root; or map paths with path_maps"

    @staticmethod
    def _stat(real: Path, text: str, field: str) -> os.stat_result:
        try:
            return os.stat(real)
        except FileNotFoundError:
            raise NotFound("no such file on the server", path=text, field=field) from None
        except OSError as exc:
            raise InvalidRequest(
                f"path cannot be read on the server ({exc.strerror})", path=text, field=field
            ) from None


def check_file_name(name: str, field: str) -> str:
    """A bare file name a client gave for an upload: no folders, nothing hidden or odd."""
    bad = (
        not name
        or len(name) > MAX_NAME
        or name in {".", ".."}
        or name.startswith(".")
        or any(c in name for c in "/\\\x00")
        or any(ord(c) < 32 or unicodedata.category(c) in ("Cf", "Cc", "Zl", "Zp") for c in name)
    )
    if bad:
        raise InvalidRequest(
            "upload file name must be a plain name like 'reel2.otio' (no folders, not hidden, "
            "no control or text-direction characters)",
            path=repr(name),
            field=field,
        )
    return name


def _deny(code: grpc.StatusCode, message: str, handler: grpc.RpcMethodHandler):
    """A handler of the same shape as ``handler`` that only fails the call."""

    def unary(request, context):
        context.abort(code, message)

    def stream(request, context):
        context.abort(code, message)
        yield  # pragma: no cover

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream)
    return grpc.unary_unary_rpc_method_handler(unary)


class TokenAuth(grpc.ServerInterceptor):
    """``authorization: Bearer <token>`` on every call but health checks."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        self._refusals = RateLimitedLog(logger, "refused a call (%s): %s token")

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(HEALTH_PREFIX):
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), self._expected):
            return handler
        reason = "missing" if not given else "wrong"
        self._refusals.note(details.method, reason)
        return _deny(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{reason} token: send 'authorization: Bearer <token>'",
            handler,
        )


class StrictDecoding(grpc.ServerInterceptor):
    """Undecodable request bytes are the client's fault: INVALID_ARGUMENT, not INTERNAL.

    gRPC's own deserialisation failure answers INTERNAL and logs an error; here the handler
    takes raw bytes and parses them itself.
    """

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse, method = handler.request_deserializer, details.method

        def decoded(raw: bytes, context: grpc.ServicerContext):
            try:
                return parse(raw)
            except Exception as exc:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{method}: request bytes are not a valid message ({exc})",
                )

        if handler.response_streaming:
            behaviour = handler.unary_stream

            def unary_stream(raw, context):
                return behaviour(decoded(raw, context), context)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, response_serializer=handler.response_serializer
            )
        behaviour = handler.unary_unary

        def unary_unary(raw, context):
            return behaviour(decoded(raw, context), context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, response_serializer=handler.response_serializer
        )
