"""HTTP plumbing of the status service: responses, errors, the request object, the listen address."""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from hwstatus import auth

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 303: "See Other", 304: "Not Modified", 400: "Bad Request",
               401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
               422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
               503: "Service Unavailable"}
CACHE_ENTRIES = 32
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                    ("X-Frame-Options", "DENY"),
                    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; "
                                                "frame-ancestors 'none'; base-uri 'none'")]


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


class Response:
    public = False  # set by public_file(): cacheable by anyone

    def __init__(self, status: int, body: bytes | str, content_type: str = "application/json",
                 headers: Iterable[tuple[str, str]] = ()):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = [("Content-Type", content_type), *headers]


def public_file(resp: Response) -> Response:
    resp.public = True
    return resp


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                    "application/json; charset=utf-8", headers)


class Request:
    principal: "auth.Principal | None" = None

    def __init__(self, environ: dict, limit: int, ip: str):
        self.environ = environ
        self.path = environ.get("PATH_INFO", "/")
        self.ip = ip
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.raw = b""
        if environ.get("REQUEST_METHOD") in ("POST", "PATCH", "PUT"):
            length_text = environ.get("CONTENT_LENGTH") or "0"
            try:
                length = int(length_text)
            except ValueError:
                raise HTTPError(400, f"Content-Length: not a number: {length_text!r}") from None
            if length > limit:
                raise HTTPError(413, f"body of {length} bytes exceeds the limit of {limit} bytes (statuspage.max_body_bytes)")
            self.raw = environ["wsgi.input"].read(length) if length > 0 else b""

    def header(self, name: str) -> str:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), "")

    @property
    def wants_json(self) -> bool:
        return "application/json" in (self.environ.get("CONTENT_TYPE") or "") or "application/json" in self.header("Accept")

    def json(self) -> Any:
        if not self.raw:
            raise HTTPError(400, "body: empty; expected JSON")
        try:
            return json.loads(self.raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPError(400, "body: not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise HTTPError(400, f"body: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None

    def form(self) -> dict:
        ctype = self.environ.get("CONTENT_TYPE") or ""
        if "application/json" in ctype:
            data = self.json()
            if not isinstance(data, dict):
                raise HTTPError(400, "body: expected a JSON object")
            return data
        try:
            text = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "body: not UTF-8") from None
        return {k: v[-1] for k, v in urllib.parse.parse_qs(text).items()}


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ValueError(f"statuspage.listen: expected host:port, got {listen!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - explicit ':port' means all addresses
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"statuspage.listen: bad port in {listen!r}") from None
