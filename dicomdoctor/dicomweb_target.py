"""A target's DICOMweb settings from the command line or a playbook: the base URL checked once, and the secret
(HTTP basic password or bearer token) read from a file or an environment variable, never from the command line
or the URL, so it appears in no shell history, process list, report or log."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from .errors import BadInput
from .target import DicomWebOptions

MAX_SECRET_BYTES = 64 * 1024  # a token or password; a bigger file is the wrong file
ENV_PREFIX = "env:"


def check_url(url: str, what: str = "--dicomweb") -> str:
    """The base URL without a trailing slash; bad input when it is not http(s)://host[:port][/path]."""
    if not isinstance(url, str) or not url.strip():
        raise BadInput(f"{what}: the DICOMweb base URL is empty (e.g. http://pacs:8042/dicom-web)")
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"{what} {text!r}: not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadInput(f"{what} {text!r}: must start with http:// or https:// (e.g. http://pacs:8042/dicom-web)")
    if not parts.hostname:
        raise BadInput(f"{what} {text!r}: has no host")
    if parts.username is not None or parts.password is not None:
        # A password in a URL ends up in shell history, process lists and reports.
        raise BadInput(f"{what}: do not put credentials in the URL; use --dicomweb-user USER and "
                       "--dicomweb-secret FILE|env:NAME (a playbook: dicomweb: {url:, user:, secret:})")
    if parts.query or parts.fragment:
        raise BadInput(f"{what} {text!r}: the base URL takes no ?query or #fragment")
    if port == 0:
        raise BadInput(f"{what} {text!r}: port 0 is not a port")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def read_secret(source: str, what: str = "--dicomweb-secret") -> str:
    """The password or token at `source`: `env:NAME` or a file path (one line; surrounding space dropped)."""
    if source.startswith(ENV_PREFIX):
        name = source[len(ENV_PREFIX):]
        value = os.environ.get(name) if name else None
        if not value:
            raise BadInput(f"{what} {source}: the environment variable {name or '(no name)'} is not set or empty")
        return value.strip()
    path = Path(source).expanduser()
    try:
        if not path.is_file():
            raise BadInput(f"{what} {source}: no such file (give a file holding the secret, or env:NAME)")
        if path.stat().st_size > MAX_SECRET_BYTES:
            raise BadInput(f"{what} {source}: over {MAX_SECRET_BYTES} bytes; expected a password or a token")
        value = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise BadInput(f"{what} {source}: not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"{what} {source}: cannot read it ({exc.strerror or exc})") from None
    if not value:
        raise BadInput(f"{what} {source}: the file is empty")
    return value


def dicomweb_options(url: str, *, user: str | None = None, secret: str | None = None, ca: str | None = None,
                     insecure: bool = False, what: str = "--dicomweb") -> DicomWebOptions:
    """Validated DicomWebOptions; the secret is read once here so that a missing one is bad input at once."""
    base = check_url(url, what)
    if user is not None and (not user or ":" in user):
        raise BadInput(f"{what}: the user name {user!r} must be non-empty and without ':' (HTTP basic)")
    if user is not None and secret is None:
        raise BadInput(f"{what}: a user ({user}) needs its password in --dicomweb-secret FILE|env:NAME")
    if secret is not None:
        read_secret(secret, f"{what} secret")
    if ca is not None and not Path(ca).expanduser().exists():
        raise BadInput(f"{what} CA {ca}: no such file or folder")
    return DicomWebOptions(url=base, user=user, secret=secret,
                           ca=str(Path(ca).expanduser()) if ca else None, insecure=bool(insecure))


def shown_url(url: str) -> str:
    """The URL as reports show it (check_url already refused credentials; this is a second guard)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
