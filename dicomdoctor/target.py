"""Targets: `[CALLED_AE@]HOST[:PORT]` (dcm4che style) and the AE title rules of PS3.5 (VR AE)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .errors import BadInput

DEFAULT_PORT = 104
DEFAULT_CALLING_AE = "DICOMDOCTOR"
DEFAULT_CALLED_AE = "ANY-SCP"  # what dcmtk sends when no called AE is given
AE_MAX_LEN = 16

_TARGET_RE = re.compile(
    r"""^(?:(?P<ae>[^@]*)@)?                # optional CALLED_AE@
        (?:\[(?P<v6>[0-9A-Fa-f:.%a-zA-Z]+)\]|(?P<host>[^:\[\]@]+))
        (?::(?P<port>[^:]*))?$""",
    re.VERBOSE,
)


def check_ae_title(ae: str, what: str = "AE title") -> str:
    """Validate an AE title as PS3.5 defines VR AE; return it stripped of trailing spaces.

    Leading and trailing spaces are not significant, so they are removed; an empty title, one over 16
    characters, or one with control characters or a backslash is bad input.
    """
    if not isinstance(ae, str):
        raise BadInput(f"{what} must be text, got {ae!r}")
    stripped = ae.strip(" ")
    if not stripped:
        raise BadInput(f"{what} is empty: an AE title needs 1 to {AE_MAX_LEN} characters")
    if len(stripped) > AE_MAX_LEN:
        raise BadInput(
            f"{what} {stripped!r} has {len(stripped)} characters; DICOM allows at most {AE_MAX_LEN}"
        )
    bad = [c for c in stripped if c == "\\" or ord(c) < 0x20 or ord(c) > 0x7E]
    if bad:
        raise BadInput(f"{what} {stripped!r} contains a character DICOM forbids in AE titles: {bad[0]!r}")
    return stripped


def check_port(value: "str | int", what: str = "port") -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise BadInput(f"{what} {port} is out of range (1-65535)")
    return port


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """TLS settings of a target. Verification is on unless `insecure` is set (DESIGN: TLS verifies by default)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False
    server_name: str | None = None  # SNI and hostname check; defaults to the target host


@dataclass(frozen=True, slots=True)
class DicomWebOptions:
    """The DICOMweb base URL of a target (`--dicomweb URL`, or `dicomweb:` on a playbook target) and how to
    reach it. The secret is never held here, only where to read it (`secret`: a file path, or `env:NAME`), so
    reports, reprs and logs cannot show it. `ca` / `insecure`: TLS for an https URL (verified by default)."""

    url: str
    user: str | None = None     # HTTP basic user (the secret is its password); None: the secret is a bearer token
    secret: str | None = None   # where the password or token is: a file path or "env:NAME"
    ca: str | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class UserIdentityOptions:
    """The user identity (PS3.7 D.3.3.7, A-ASSOCIATE-RQ sub-item 0x58) every association to a target proposes
    (`--user` / `--passcode-file` / `--identity-token-file`..., or `user_identity:` on a playbook target). Like
    DicomWebOptions it holds only where the passcode or token is (`secret`: a file path or `env:NAME`), read
    when an association is built (dicomdoctor/user_identity.py), so no report, repr or log can show it.
    `kind`: username | username-passcode | kerberos | saml | jwt."""

    kind: str
    username: str = ""
    secret: str | None = None
    positive_response: bool = False  # ask for the acceptor's User Identity response (D.3.3.7.2)


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int = DEFAULT_PORT
    called_ae: str = DEFAULT_CALLED_AE
    calling_ae: str = DEFAULT_CALLING_AE
    tls: TLSOptions | None = None
    # The text the user typed, when the called AE was given, else None (used to say "no AE was given").
    called_ae_given: bool = False
    label: str | None = None
    dicomweb: DicomWebOptions | None = None  # for the dicomweb.* checks
    user_identity: UserIdentityOptions | None = None  # proposed on every association to this target

    @property
    def id(self) -> str:
        if self.label:
            return self.label
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.called_ae}@{host}:{self.port}"

    def with_(self, **changes: object) -> "Target":
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_target(text: str, *, calling_ae: str = DEFAULT_CALLING_AE, called_ae: str | None = None,
                 tls: TLSOptions | None = None) -> Target:
    """Parse `[CALLED_AE@]HOST[:PORT]`; IPv6 as `[::1]:104`. `called_ae` (from -aec) overrides the AE part."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput("target is empty: expected [CALLED_AE@]HOST[:PORT], e.g. PACS@10.0.0.5:104")
    m = _TARGET_RE.match(text.strip())
    if not m:
        raise BadInput(f"target {text!r} is not [CALLED_AE@]HOST[:PORT] (IPv6 as [::1]:104)")
    host = m.group("v6") or m.group("host") or ""
    if not host:
        raise BadInput(f"target {text!r} has no host")
    try:
        port = check_port(m.group("port"), "port") if m.group("port") is not None else DEFAULT_PORT
    except BadInput as exc:
        raise BadInput(f"target {text!r}: {exc}") from None
    ae_part = m.group("ae")
    given = called_ae if called_ae is not None else ae_part
    ae = check_ae_title(given, "called AE title") if given is not None else DEFAULT_CALLED_AE
    return Target(host=host, port=port, called_ae=ae, calling_ae=check_ae_title(calling_ae, "calling AE title"),
                  tls=tls, called_ae_given=given is not None)
