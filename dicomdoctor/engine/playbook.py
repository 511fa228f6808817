"""Playbooks: which checks to run, with which parameters, against which targets (DESIGN.md "Playbook format").

PACS administrators edit these files by hand, so every mistake must come back as one message with the file
and line (`BadInput("playbooks/x.yaml:12: ...")`, exit 3) and never as a traceback. PyYAML forgets where a
value came from once it is constructed, so the loader below builds dicts and lists that remember the line of
each key and item.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from ..yamlguard import ExpansionTooLarge, check_expansion

from ..errors import BadInput
from ..target import (DEFAULT_CALLING_AE, DicomWebOptions, Target, TLSOptions, UserIdentityOptions, check_ae_title,
                      check_port, parse_target)
from . import registry
from .datafiles import data_dir

FORMAT_VERSION = 1
TOP_KEYS = ("playbook", "name", "description", "defaults", "targets", "checks")
DEFAULT_KEYS = ("calling_ae", "called_ae", "timeout", "dimse_timeout", "max_pdu", "tls", "concurrency",
                "user_identity")
TARGET_KEYS = ("host", "port", "called_ae", "calling_ae", "tls", "label", "dicomweb", "user_identity")
# The secret only as a file (relative to the playbook) or an environment variable, never in clear.
USER_IDENTITY_KEYS = ("type", "username", "passcode_file", "passcode_env", "token_file", "token_env",
                      "positive_response")
DICOMWEB_KEYS = ("url", "user", "secret", "ca", "insecure")
TLS_KEYS = ("ca", "cert", "key", "insecure", "server_name")
CHECK_KEYS = ("id", "with")


@dataclass(frozen=True)
class CheckRef:
    """One entry of a playbook's `checks:` list. `params` holds only what the playbook (or `--set`) gave,
    validated against the check's declared parameters; the runner merges them over the check's defaults."""

    id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None  # where it is written, for messages


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str = ""
    # Validated `defaults:`; `tls` is a TLSOptions (relative paths already resolved) or absent.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    checks: tuple[CheckRef, ...] = ()
    source: str = ""  # how messages name the file ("playbooks/standard.yaml", or the path the user gave)

    @property
    def check_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.checks)


# ------------------------------------------------------------------------------- YAML with line numbers

class _Map(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class _Seq(list):  # type: ignore[type-arg]
    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    def get_single_node(self) -> Any:
        # Refuse alias bombs before anything is constructed (dicomdoctor/yamlguard.py).
        node = super().get_single_node()
        check_expansion(node)
        return node


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # YAML merge keys (<<: *base): merged pairs first, then the node's own
    merged = len(node.value) - own
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    own_keys: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                    "found a key that is a list or mapping",
                                                    key_node.start_mark) from None
        if index >= merged and key in own_keys:
            # PyYAML silently keeps the last one; in a playbook that hides a mistake. (Overriding a
            # merged key is what merging is for.)
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {result.key_lines[key]})", key_node.start_mark)
        if index >= merged:
            own_keys.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


class _GuardedLoader(yaml.SafeLoader):
    """safe_load for --set values, with the same alias budget."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        check_expansion(node)
        return node


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _plain(value: Any) -> Any:
    """Strip the line bookkeeping: checks get ordinary dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    return f"{type(value).__name__} {value!r}"


# ------------------------------------------------------------------------------------------ resolving

def shipped_playbooks() -> list[str]:
    """Names of the playbooks that ship with dicomdoctor (`--playbook NAME`)."""
    folder = data_dir("playbooks")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _resolve(name_or_path: "str | os.PathLike[str]") -> tuple[Path, str]:
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = ("/" in text or os.sep in text or path.suffix.lower() in (".yaml", ".yml")
                       or path.is_file())
    if looks_like_path:
        return path, text
    shipped = data_dir("playbooks") / f"{text}.yaml"
    if not shipped.is_file():
        names = shipped_playbooks()
        close = difflib.get_close_matches(text, names, n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BadInput(f"unknown playbook {text!r}; {hint}shipped playbooks: {', '.join(names) or '(none)'} "
                       "(or give the path of a .yaml file)")
    return shipped, f"playbooks/{text}.yaml"


# Upper bounds of the numeric `defaults:` (the same as the command line's, commands/_common.py).
NUMBER_CEILING = {"timeout": 86400.0, "dimse_timeout": 86400.0, "max_pdu": (1 << 32) - 1}
MAX_PLAYBOOK_BYTES = 4 << 20  # a fleet of thousands of targets fits; a runaway file does not


def load_playbook(name_or_path: "str | os.PathLike[str]", *, target_required: bool = False) -> Playbook:
    """Load a shipped playbook by NAME, or a playbook file by path. Errors are BadInput("file:line: ...")."""
    path, label = _resolve(name_or_path)
    # A FIFO, a device or a socket would block (or never end): only regular files are playbooks.
    if path.exists() and not path.is_dir() and not path.is_file():
        raise BadInput(f"playbook {label}: not a regular file (a FIFO, device or socket)")
    if path.is_file() and path.stat().st_size > MAX_PLAYBOOK_BYTES:
        raise BadInput(f"playbook {label}: {path.stat().st_size} bytes; a playbook is at most "
                       f"{MAX_PLAYBOOK_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"playbook {label}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"playbook {label} is a folder, not a .yaml file") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"playbook {label}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"cannot read playbook {label}: {exc.strerror or exc}") from None
    return parse_playbook(text, source=label, folder=path.resolve().parent, default_name=path.stem,
                          target_required=target_required)


def parse_playbook(text: str, *, source: str = "<playbook>", folder: Path | None = None,
                   default_name: str = "playbook", target_required: bool = False) -> Playbook:
    """Parse playbook YAML text; `folder` anchors relative TLS file paths (default: the current folder)."""
    return _Parser(source, folder or Path.cwd()).parse(text, default_name, target_required)


# ------------------------------------------------------------------------------------------- the schema

class _Parser:
    def __init__(self, source: str, folder: Path) -> None:
        self.source = source
        self.folder = folder

    def error(self, line: int | None, message: str) -> BadInput:
        return BadInput(f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}")

    def parse(self, text: str, default_name: str, target_required: bool) -> Playbook:
        doc = self.load(text)
        if doc is None:
            raise self.error(1, f"the file is empty; a playbook starts with `playbook: {FORMAT_VERSION}`")
        if not isinstance(doc, _Map):
            raise self.error(getattr(doc, "line", 1),
                             f"a playbook is a mapping (playbook:, checks:, ...), not {_type_name(doc)}")
        return self.parse_doc(doc, default_name, target_required)

    def load(self, text: str) -> Any:
        """YAML with line numbers (mappings are _Map, lists _Seq) and the alias guard; errors name file:line."""
        try:
            return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            what = str(exc.problem or "invalid YAML")
            if exc.context:
                where = exc.context_mark
                since = f" started at line {where.line + 1}" if where and mark and where.line != mark.line else ""
                what += f" ({exc.context}{since})"
            column = f" at column {mark.column + 1}" if mark is not None else ""
            raise self.error(line, f"YAML syntax error{column}: {what}") from None
        except yaml.YAMLError as exc:
            raise self.error(None, f"YAML error: {exc}") from None
        except ExpansionTooLarge as exc:
            raise self.error(exc.line, str(exc)) from None

    def parse_doc(self, doc: _Map, default_name: str, target_required: bool) -> Playbook:
        self.unknown_keys(doc, TOP_KEYS, "a playbook")
        if "playbook" not in doc:
            raise self.error(doc.line, f"missing `playbook: {FORMAT_VERSION}` (the format version) at the top")
        version = doc["playbook"]
        if version != FORMAT_VERSION or isinstance(version, bool):
            raise self.error(doc.key_lines["playbook"], f"unsupported playbook format {version!r}; "
                             f"this dicomdoctor reads `playbook: {FORMAT_VERSION}`")
        name = self.text(doc, "name", default_name)
        description = self.text(doc, "description", "")
        defaults = self.defaults(doc.get("defaults"), doc.key_lines.get("defaults"))
        targets = self.targets(doc.get("targets"), doc.key_lines.get("targets"), defaults)
        if target_required and not targets:
            raise self.error(doc.key_lines.get("targets", doc.line),
                             "the playbook lists no targets (add a `targets:` list, or use "
                             f"`dicomdoctor diagnose TARGET --playbook {self.source}`)")
        if "checks" not in doc:
            raise self.error(doc.line, "missing `checks:` (the list of check ids to run)")
        checks = self.checks(doc["checks"], doc.key_lines["checks"])
        return Playbook(name=name, description=description, defaults=defaults, targets=targets, checks=checks,
                        source=self.source)

    # -- helpers

    def unknown_keys(self, m: _Map, allowed: Sequence[str], what: str) -> None:
        for key in m:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.error(m.key_lines[key], f"unknown key {key!r} in {what}; {hint}"
                                 f"allowed: {', '.join(allowed)}")

    def text(self, m: _Map, key: str, default: str) -> str:
        if key not in m or m[key] is None:
            return default
        value = m[key]
        if isinstance(value, (dict, list, bool)):
            raise self.error(m.key_lines[key], f"{key} must be text, not {_type_name(value)}")
        return str(value)

    def ae(self, m: _Map, key: str, what: str) -> str:
        value = m[key]
        if isinstance(value, (dict, list, bool)) or value is None:
            # `calling_ae: NO` is the boolean False in YAML 1.1: say so instead of a puzzling error.
            raise self.error(m.key_lines[key], f"{what} must be text, not {_type_name(value)} (quote it)")
        try:
            return check_ae_title(str(value), what)
        except BadInput as exc:
            raise self.error(m.key_lines[key], str(exc)) from None

    def number(self, m: _Map, key: str, *, integer: bool, minimum: float) -> float:
        value = m[key]
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        # .nan and .inf are YAML floats; nan compares false with everything and would pass `< minimum`.
        if not ok or isinstance(value, bool) or not math.isfinite(value) or value < minimum \
                or value > NUMBER_CEILING.get(key, math.inf):
            kind = "a whole number" if integer else "a number"
            top = f" and <= {NUMBER_CEILING[key]:.15g}" if key in NUMBER_CEILING else ""
            shown = repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
                else _type_name(value)
            raise self.error(m.key_lines[key], f"{key} must be {kind} >= {minimum:g}{top}, not {shown}")
        return value

    def defaults(self, value: Any, line: int | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, _Map):
            raise self.error(line, f"defaults must be a mapping, not {_type_name(value)}")
        self.unknown_keys(value, DEFAULT_KEYS, "defaults")
        out: dict[str, Any] = {}
        for key in value:
            if key in ("calling_ae", "called_ae"):
                out[key] = self.ae(value, key, f"defaults.{key}")
            elif key in ("timeout", "dimse_timeout"):
                out[key] = float(self.number(value, key, integer=False, minimum=0.001))
            elif key == "max_pdu":
                out[key] = int(self.number(value, key, integer=True, minimum=0))
            elif key == "concurrency":
                out[key] = int(self.number(value, key, integer=True, minimum=1))
            elif key == "tls":
                tls = self.tls(value[key], value.key_lines[key], "defaults.tls")
                if tls is not None:
                    out[key] = tls
            elif key == "user_identity":
                identity = self.user_identity(value[key], value.key_lines[key], "defaults.user_identity")
                if identity is not None:
                    out[key] = identity
        return out

    def user_identity(self, value: Any, line: int, what: str) -> "UserIdentityOptions | None":
        """`user_identity: {username, passcode_file | passcode_env}` or `{type, token_file | token_env}` (plus
        `positive_response`): the identity every association to the target proposes, like --user."""
        from ..user_identity import PLAYBOOK_NAMES, identity_options

        if value is None:
            return None
        if not isinstance(value, _Map):
            raise self.error(line, f"{what} must be a mapping ({', '.join(USER_IDENTITY_KEYS)}), "
                             f"not {_type_name(value)}")
        self.unknown_keys(value, USER_IDENTITY_KEYS, what)
        texts: dict[str, str | None] = {}
        for key in USER_IDENTITY_KEYS[:-1]:
            raw = value.get(key)
            if raw is not None and not isinstance(raw, str):
                raise self.error(value.key_lines[key], f"{what}.{key} must be text, not {_type_name(raw)}")
            texts[key] = raw or None
        for key in ("passcode_file", "token_file"):  # relative to the playbook, like the TLS files
            if texts[key]:
                path = Path(str(texts[key])).expanduser()
                texts[key] = str(path if path.is_absolute() else self.folder / path)
        positive = value.get("positive_response", False)
        if not isinstance(positive, bool):
            raise self.error(value.key_lines["positive_response"], f"{what}.positive_response must be true or false")
        names = {k: v.replace("user_identity", what) for k, v in PLAYBOOK_NAMES.items()}
        try:
            return identity_options(kind=texts["type"], username=texts["username"],
                                    passcode_file=texts["passcode_file"], passcode_env=texts["passcode_env"],
                                    token_file=texts["token_file"], token_env=texts["token_env"],
                                    positive_response=positive, names=names)
        except BadInput as exc:
            raise self.error(line, str(exc)) from None

    def tls(self, value: Any, line: int, what: str) -> TLSOptions | None:
        if value is None or value is False:
            return None
        if value is True:
            return TLSOptions()
        if not isinstance(value, _Map):
            raise self.error(line, f"{what} must be true, false or a mapping ({', '.join(TLS_KEYS)}), "
                             f"not {_type_name(value)}")
        self.unknown_keys(value, TLS_KEYS, what)
        files: dict[str, str | None] = {}
        for key in ("ca", "cert", "key"):
            files[key] = self.tls_file(value, key, what) if value.get(key) is not None else None
        if files["key"] and not files["cert"]:
            raise self.error(value.key_lines["key"], f"{what}.key is given without {what}.cert")
        insecure = value.get("insecure", False)
        if not isinstance(insecure, bool):
            raise self.error(value.key_lines["insecure"], f"{what}.insecure must be true or false")
        server_name = self.text(value, "server_name", "") or None
        return TLSOptions(ca=files["ca"], cert=files["cert"], key=files["key"], insecure=insecure,
                          server_name=server_name)

    def tls_file(self, m: _Map, key: str, what: str) -> str:
        raw = m[key]
        if not isinstance(raw, str) or not raw:
            raise self.error(m.key_lines[key], f"{what}.{key} must be a file path, not {_type_name(raw)}")
        # Relative to the playbook's folder, so a playbook and its certificates can move together.
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.folder / path
        if not (path.is_file() or (key == "ca" and path.is_dir())):  # a CA folder (c_rehash) is fine too
            raise self.error(m.key_lines[key], f"{what}.{key}: file {raw!r} not found (looked at {path})")
        return str(path)

    def dicomweb(self, value: Any, line: int) -> "DicomWebOptions | None":
        """`dicomweb: URL` or `dicomweb: {url, user, secret, ca, insecure}` (secret: a file, relative to the
        playbook, or env:NAME; never the secret itself)."""
        from ..dicomweb_target import ENV_PREFIX, dicomweb_options

        if value is None:
            return None
        m = value if isinstance(value, _Map) else None
        if m is None and not isinstance(value, str):
            raise self.error(line, f"dicomweb must be a URL or a mapping ({', '.join(DICOMWEB_KEYS)}), "
                             f"not {_type_name(value)}")
        if m is not None:
            self.unknown_keys(m, DICOMWEB_KEYS, "dicomweb")
            if "url" not in m:
                raise self.error(m.line, "dicomweb needs `url:` (the DICOMweb base URL)")
        get = (lambda k: m.get(k)) if m is not None else (lambda k: value if k == "url" else None)
        for key in ("url", "user", "secret", "ca"):
            if get(key) is not None and not isinstance(get(key), str):
                raise self.error(m.key_lines[key] if m is not None else line,
                                 f"dicomweb.{key} must be text, not {_type_name(get(key))}")
        insecure = get("insecure") or False
        if not isinstance(insecure, bool):
            raise self.error(m.key_lines["insecure"] if m is not None else line, "dicomweb.insecure must be true or false")

        def local(path: str | None) -> str | None:
            if path is None or path.startswith(ENV_PREFIX):
                return path
            p = Path(path).expanduser()
            return str(p if p.is_absolute() else self.folder / p)

        try:
            return dicomweb_options(str(get("url")), user=get("user"), secret=local(get("secret")), ca=local(get("ca")),
                                    insecure=insecure, what="dicomweb")
        except BadInput as exc:
            raise self.error(line, str(exc)) from None

    def targets(self, value: Any, line: int | None, defaults: Mapping[str, Any]) -> tuple[Target, ...]:
        if value is None:
            return ()
        if not isinstance(value, _Seq):
            raise self.error(line, f"targets must be a list, not {_type_name(value)}")
        out = []
        for item, item_line in zip(value, value.item_lines):
            out.append(self.target(item, item_line, defaults))
        return tuple(out)

    def target(self, item: Any, line: int, defaults: Mapping[str, Any]) -> Target:
        calling = defaults.get("calling_ae", DEFAULT_CALLING_AE)
        tls = defaults.get("tls")
        identity = defaults.get("user_identity")
        if isinstance(item, str):
            try:
                # defaults.called_ae fills in only when the text has no `AE@` part.
                called = defaults.get("called_ae") if "@" not in item else None
                return parse_target(item, calling_ae=calling, called_ae=called, tls=tls).with_(user_identity=identity)
            except BadInput as exc:
                raise self.error(line, str(exc)) from None
        if not isinstance(item, _Map):
            raise self.error(line, "a target is AE@HOST:PORT text or a mapping "
                             f"({', '.join(TARGET_KEYS)}), not {_type_name(item)}")
        self.unknown_keys(item, TARGET_KEYS, "a target")
        if "host" not in item or not isinstance(item["host"], str) or not item["host"].strip():
            raise self.error(item.line, "a target mapping needs `host:` (a name or an address)")
        host = item["host"].strip().strip("[]")
        port = 104
        if "port" in item:
            try:
                port = check_port(item["port"], "port")
            except BadInput as exc:
                raise self.error(item.key_lines["port"], str(exc)) from None
        called_given = "called_ae" in item or "called_ae" in defaults
        called = self.ae(item, "called_ae", "called_ae") if "called_ae" in item else defaults.get("called_ae")
        if "calling_ae" in item:
            calling = self.ae(item, "calling_ae", "calling_ae")
        if "tls" in item:
            tls = self.tls(item["tls"], item.key_lines["tls"], "tls")
        label = self.text(item, "label", "") or None
        dicomweb = self.dicomweb(item["dicomweb"], item.key_lines["dicomweb"]) if "dicomweb" in item else None
        if "user_identity" in item:
            identity = self.user_identity(item["user_identity"], item.key_lines["user_identity"], "user_identity")
        target = Target(host=host, port=port, calling_ae=calling, tls=tls, called_ae_given=called_given,
                        label=label, dicomweb=dicomweb, user_identity=identity)
        return target.with_(called_ae=called) if called else target

    def checks(self, value: Any, line: int) -> tuple[CheckRef, ...]:
        if not isinstance(value, _Seq) or not value:
            raise self.error(line, "checks must be a non-empty list of check ids "
                             "(a bare id, or {id: ..., with: {...}})")
        seen: dict[str, int] = {}
        out = []
        for item, item_line in zip(value, value.item_lines):
            ref = self.check(item, item_line)
            if ref.id in seen:
                raise self.error(item_line, f"check {ref.id} is listed twice (first at line {seen[ref.id]})")
            seen[ref.id] = item_line
            out.append(ref)
        return tuple(out)

    def check(self, item: Any, line: int) -> CheckRef:
        given: Any = None
        if isinstance(item, _Map):
            self.unknown_keys(item, CHECK_KEYS, "a check entry")
            if "id" not in item:
                raise self.error(item.line, "a check entry with parameters needs `id:` "
                                 "(e.g. {id: dimse.find, with: {level: STUDY}})")
            check_id = item["id"]
            line = item.key_lines["id"]
            given = item.get("with")
            if given is not None and not isinstance(given, _Map):
                raise self.error(item.key_lines["with"], f"`with` must be a mapping of parameters, not {_type_name(given)}")
        else:
            check_id = item
        if not isinstance(check_id, str):
            raise self.error(line, f"a check id is text such as net.reachable, not {_type_name(check_id)}")
        try:
            spec = registry.get_check(check_id)
        except BadInput as exc:
            raise self.error(line, str(exc)) from None
        params: dict[str, Any] = {}
        for name, raw in (given or {}).items():
            where = f"{self.source}:{given.key_lines[name]}"
            params.update(validate_params(spec, {name: raw}, where))
        return CheckRef(id=spec.id, params=params, line=line)


# ----------------------------------------------------------------------------------- parameter values

def validate_params(spec: registry.CheckSpec, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check parameter names against `spec.params` and values against the default's type.

    `where` prefixes messages ("playbooks/x.yaml:12", "--set dimse.find.level"). A YAML number for a text
    parameter becomes text (an AE title such as 1234); a scalar for a list parameter becomes a list of one.
    """
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in spec.params:
            known = sorted(spec.params)
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listing = f"its parameters: {', '.join(known)}" if known else "it takes no parameters"
            raise BadInput(f"{where}: check {spec.id} has no parameter {name!r}; {hint}{listing}")
        default = spec.params[name]
        if value is None and default is not None:
            continue  # `level:` with nothing after it: keep the check's default
        out[name] = _coerce(spec.id, name, default, _plain(value), where)
    return out


def _coerce(check_id: str, name: str, default: Any, value: Any, where: str) -> Any:
    def bad(expected: str) -> BadInput:
        return BadInput(f"{where}: {check_id} parameter {name!r} must be {expected}, not {_type_name(value)}")

    if default is None:
        return value  # the check takes anything here and validates it itself
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("a whole number")
        return value
    if isinstance(default, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise bad("a number")
        return float(value)
    if isinstance(default, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad("text")
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return [value]
        if not isinstance(value, list):
            raise bad("a list")
        return value
    if isinstance(default, Mapping):
        if not isinstance(value, dict):
            raise bad("a mapping")
        return value
    return value


def apply_overrides(playbook: Playbook, overrides: Iterable[str]) -> Playbook:
    """Apply `--set CHECK.PARAM=VALUE` items. The check id contains dots itself, so the parameter is what
    follows the LAST dot; VALUE is read as YAML (`5`, `true`, `PATIENT`, `[a, b]`, `{PatientID: X}`)."""
    checks = list(playbook.checks)
    for item in overrides:
        key, eq, raw = item.partition("=")
        key = key.strip()
        check_id, dot, param = key.rpartition(".")
        if not eq or not dot or not check_id or not param:
            raise BadInput(f"--set {item!r}: expected CHECK.PARAM=VALUE, e.g. dimse.find.level=PATIENT")
        try:
            spec = registry.get_check(check_id)
        except BadInput as exc:
            raise BadInput(f"--set {key}: {exc}") from None
        index = next((i for i, c in enumerate(checks) if c.id == spec.id), None)
        if index is None:
            raise BadInput(f"--set {key}: check {spec.id} is not in playbook {playbook.name} "
                           f"(its checks: {', '.join(c.id for c in checks)})")
        if raw.strip() == "":
            value: Any = ""
        else:
            try:
                value = yaml.load(raw, Loader=_GuardedLoader)  # noqa: S506 - a SafeLoader subclass
            except ExpansionTooLarge as exc:
                raise BadInput(f"--set {key}: {exc}") from None
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or exc
                raise BadInput(f"--set {key}: cannot read the value {raw!r} as YAML: {problem}") from None
        params = validate_params(spec, {param: value}, f"--set {key}")
        ref = checks[index]
        checks[index] = replace(ref, params={**ref.params, **params})
    return replace(playbook, checks=tuple(checks))


class TargetSection:
    """Reads another YAML file that shares the playbook's `defaults:` / `targets:` syntax and its file:line
    errors (the exporter's configuration): `load()` the text, then `defaults()` and `targets()` of parts of
    it, `error()` for the caller's own keys."""

    def __init__(self, source: str, folder: Path) -> None:
        self._p = _Parser(source, folder)
        self.folder = folder

    def load(self, text: str) -> Any:
        return self._p.load(text)

    def error(self, line: int | None, message: str) -> BadInput:
        return self._p.error(line, message)

    def unknown_keys(self, m: Any, allowed: Sequence[str], what: str) -> None:
        self._p.unknown_keys(m, allowed, what)

    def defaults(self, doc: Any) -> dict[str, Any]:
        return self._p.defaults(doc.get("defaults"), doc.key_lines.get("defaults"))

    def targets(self, doc: Any, defaults: Mapping[str, Any]) -> tuple[Target, ...]:
        return self._p.targets(doc.get("targets"), doc.key_lines.get("targets"), defaults)


def make_playbook(name: str, checks: Iterable["str | tuple[str, Mapping[str, Any]] | CheckRef"], *,
                  description: str = "", targets: Sequence[Target] = (),
                  defaults: Mapping[str, Any] | None = None) -> Playbook:
    """A playbook built in code (the SCU commands: `echo` is a one-check playbook), validated like a file."""
    refs = []
    for entry in checks:
        if isinstance(entry, CheckRef):
            check_id, given = entry.id, entry.params
        elif isinstance(entry, str):
            check_id, given = entry, {}
        else:
            check_id, given = entry
        spec = registry.get_check(check_id)
        refs.append(CheckRef(id=spec.id, params=validate_params(spec, dict(given), f"check {spec.id}")))
    return Playbook(name=name, description=description, defaults=dict(defaults or {}), targets=tuple(targets),
                    checks=tuple(refs), source=f"<{name}>")
