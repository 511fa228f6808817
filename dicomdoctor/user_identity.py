"""A target's user identity (PS3.7 D.3.3.7, the A-ASSOCIATE-RQ sub-item 0x58) from the command line or a playbook.

A PACS that requires a user identity rejects every association without one, so the identity given by `--user`,
`--passcode-file`/`--passcode-env`, `--identity-type`, `--identity-token-file`/`--identity-token-env` and
`--identity-response` (or a playbook target's `user_identity:`) goes on every association of the run: net's
`associate()` and the assoc.* probes build their requests with `identity_rq(target.user_identity)`.

The passcode or token is never taken from the command line itself (shell history, process lists) and never held
in the options: only where it is (a file or `env:NAME`), read once when the options are checked, so a missing
one is bad input before anything is sent, and again for each request. Messages name the file or the variable,
never the value; traces and reports show the identity's type and lengths only (ul.items.UserIdentityRQ).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .errors import BadInput
from .target import UserIdentityOptions

if TYPE_CHECKING:
    from .ul.items import UserIdentityRQ

# PS3.7 Table D.3-14, User-Identity-Type; the names are those of the assoc.user-identity check's `type` param.
IDENTITY_TYPES: dict[str, int] = {"username": 1, "username-passcode": 2, "kerberos": 3, "saml": 4, "jwt": 5}
TOKEN_TYPES = ("kerberos", "saml", "jwt")
ENV_PREFIX = "env:"
# The primary and secondary fields are each 16-bit length prefixed (Table D.3-14).
MAX_FIELD_BYTES = 0xFFFF

# How the options are named in messages: the command line's flags, or a playbook target's keys.
CLI_NAMES: Mapping[str, str] = {
    "kind": "--identity-type", "username": "--user", "passcode_file": "--passcode-file",
    "passcode_env": "--passcode-env", "token_file": "--identity-token-file", "token_env": "--identity-token-env",
    "positive_response": "--identity-response"}
PLAYBOOK_NAMES: Mapping[str, str] = {
    "kind": "user_identity.type", "username": "user_identity.username", "passcode_file": "user_identity.passcode_file",
    "passcode_env": "user_identity.passcode_env", "token_file": "user_identity.token_file",
    "token_env": "user_identity.token_env", "positive_response": "user_identity.positive_response"}


def _source(file: str | None, env: str | None, file_name: str, env_name: str) -> tuple[str | None, str]:
    """Where a secret is ("path" or "env:NAME", None when neither is given) and the option that said so."""
    if file and env:
        raise BadInput(f"{file_name} and {env_name} are both given: give one of them")
    if file:
        return str(Path(file).expanduser()), file_name
    if env:
        return ENV_PREFIX + env, env_name
    return None, ""


def read_identity_secret(source: str, what: str) -> bytes:
    """The passcode or token at `source` (a file path or env:NAME). A file's trailing line break is not part of
    it (`echo secret > file`); anything else is, spaces included. Bad input names the file or the variable."""
    if source.startswith(ENV_PREFIX):
        name = source[len(ENV_PREFIX):]
        value = os.environ.get(name)
        if value is None:
            raise BadInput(f"{what} {name}: the environment variable is not set")
        data = value.encode("utf-8")
        if not data:
            raise BadInput(f"{what} {name}: the environment variable is empty")
    else:
        path = Path(source)
        try:
            if path.is_dir():
                raise BadInput(f"{what} {source}: is a folder, expected a file holding the secret")
            if not path.is_file():
                raise BadInput(f"{what} {source}: no such file")
            if path.stat().st_size > MAX_FIELD_BYTES + 2:
                raise BadInput(f"{what} {source}: over {MAX_FIELD_BYTES} bytes, more than a user identity field "
                               "holds (is it the right file?)")
            data = path.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise BadInput(f"{what} {source}: cannot read it ({exc.strerror or exc})") from None
        if not data:
            raise BadInput(f"{what} {source}: the file is empty")
    if len(data) > MAX_FIELD_BYTES:
        raise BadInput(f"{what}: {len(data)} bytes, more than the {MAX_FIELD_BYTES} a user identity field holds")
    return data


def identity_options(*, kind: str | None = None, username: str | None = None, passcode_file: str | None = None,
                     passcode_env: str | None = None, token_file: str | None = None, token_env: str | None = None,
                     positive_response: bool = False,
                     names: Mapping[str, str] = CLI_NAMES) -> UserIdentityOptions | None:
    """Validated UserIdentityOptions, None when no identity is asked for. The secret is read once here, so that
    a missing file or variable is bad input before any association. Without a type: a token means jwt, a
    passcode username-passcode, a bare user name username."""
    n = names
    passcode, passcode_opt = _source(passcode_file, passcode_env, n["passcode_file"], n["passcode_env"])
    token, token_opt = _source(token_file, token_env, n["token_file"], n["token_env"])
    name = username or ""
    if username is not None and not username:
        raise BadInput(f"{n['username']}: the user name is empty")
    if len(name.encode("utf-8")) > MAX_FIELD_BYTES:
        raise BadInput(f"{n['username']}: the user name is longer than the {MAX_FIELD_BYTES} bytes its field holds")
    if passcode and token:
        raise BadInput(f"{passcode_opt} and {token_opt} are both given: a user identity is a user name with a "
                       "passcode, or a token")
    if passcode and not name:
        raise BadInput(f"{passcode_opt} needs {n['username']} (the user the passcode is for)")
    given = (kind or "").strip().lower()
    if not given:
        if not (name or token):
            if positive_response:
                raise BadInput(f"{n['positive_response']} needs a user identity: {n['username']}, or "
                               f"{n['token_file']} / {n['token_env']}")
            return None
        given = "jwt" if token else ("username-passcode" if passcode else "username")
    if given not in IDENTITY_TYPES:
        raise BadInput(f"{n['kind']} {given!r}: give one of {', '.join(IDENTITY_TYPES)}")
    if given in TOKEN_TYPES:
        if not token:
            raise BadInput(f"{n['kind']} {given} needs {n['token_file']} or {n['token_env']} (the ticket, "
                           "assertion or JWT)")
        if name:
            raise BadInput(f"{n['username']} goes with {n['kind']} username or username-passcode: a {given} "
                           "identity is the token alone")
    else:
        if token:
            raise BadInput(f"{token_opt} goes with {n['kind']} kerberos, saml or jwt, not {given}")
        if not name:
            raise BadInput(f"{n['kind']} {given} needs {n['username']}")
        if given == "username-passcode" and not passcode:
            raise BadInput(f"{n['kind']} username-passcode needs {n['passcode_file']} or {n['passcode_env']}")
        if given == "username" and passcode:
            raise BadInput(f"{n['kind']} username sends no passcode: drop {passcode_opt}, or give "
                           f"{n['kind']} username-passcode")
    secret = token or passcode
    if secret is not None:
        read_identity_secret(secret, token_opt or passcode_opt)
    return UserIdentityOptions(kind=given, username=name, secret=secret, positive_response=bool(positive_response))


def identity_fields(options: UserIdentityOptions) -> tuple[int, bytes, bytes]:
    """(User-Identity-Type, primary field, secondary field): the user name and passcode, or the token."""
    code = IDENTITY_TYPES[options.kind]
    secret = read_identity_secret(options.secret, "user identity secret") if options.secret else b""
    if code in (3, 4, 5):
        return code, secret, b""
    return code, options.username.encode("utf-8"), secret if code == 2 else b""


def identity_rq(options: UserIdentityOptions | None) -> "UserIdentityRQ | None":
    """The sub-item to put in an A-ASSOCIATE-RQ's user information, None without an identity."""
    if options is None:
        return None
    from .ul.items import UserIdentityRQ

    code, primary, secondary = identity_fields(options)
    return UserIdentityRQ(code, primary, secondary, options.positive_response)
