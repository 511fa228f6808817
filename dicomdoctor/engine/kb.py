"""The knowledge base: `checks/*.yaml` (docs/ARCHITECTURE.md "Knowledge base").

One file per check (`checks/<check-id>.yaml`: what it verifies, the causes it can report), files whose name
starts with `_` for causes several checks share, and `products.yaml` (implementation class UID / version
name -> product). PACS administrators edit these files, so loading is strict and every complaint names the
file and line: duplicate cause ids, unknown keys, a missing title or fix, a regex that does not compile.

Pure: no network. `load_kb(lang)` is cached; `KnowledgeBase` answers
- `cause(id, lang)` -> `model.Cause`, `causes_for_check(check_id)`, `check_title(check_id, lang)`,
- `match_text(text)` -> ranked `(cause_id, score)` from error-text signatures,
- `causes_for_status(code, service)` -> ranked `(cause_id, score)` from the causes' `statuses` rules,
- `identify_product(uid, version_name)` -> {product, toolkit, confidence, quirks, note, version},
- `first_rule(section, facts, flags)` -> the first judgement rule of `checks/_rules.yaml` that matches
  (engine/judge.py is the only caller: it turns rejects, aborts, connect and TLS outcomes into causes).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import BadInput
from . import model
from .datafiles import data_dir

CAUSE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CHECK_ID = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
LANG = re.compile(r"^[a-z]{2}(?:-[A-Za-z]{2,8})?$")
STATUS_PATTERN = re.compile(r"^[0-9A-Fa-fXx]{4}$")
SERVICES = ("c-echo", "c-store", "c-find", "c-move", "c-get", "n-event-report", "n-get", "n-set",
            "n-action", "n-create", "n-delete")
CONFIDENCES = ("high", "medium", "low")

_CHECK_KEYS = {"check": True, "title": True, "verifies": True, "causes": False, "also": False}
_SHARED_KEYS = {"shared": True, "causes": True}
_CAUSE_KEYS = {"id": True, "title": True, "explanation": True, "fixes": True, "refs": False,
               "signatures": False, "statuses": False, "prior": False}
_STATUS_KEYS = {"codes": True, "service": False}
_RULES_KEYS = {"rules": True, "connect": False, "raw-syn": False, "tls": False, "reject": False, "abort": False,
               "timeout": False, "wire": False, "local": False, "violation": False}
# Per section of the rules file: the fact keys a rule may test (anything else is a typo, file:line).
RULE_FACTS: dict[str, tuple[str, ...]] = {
    "connect": ("outcome",),
    "raw-syn": ("connect", "syn"),
    "tls": ("outcome",),
    "reject": ("result", "source", "reason"),
    "abort": ("phase", "kind", "by", "service", "answered", "toolkit"),
    "timeout": ("phase", "service", "toolkit"),
    "wire": ("kind",),
    "local": ("kind",),
    "violation": ("code",),
}
# Sections whose last rule must match anything, so that every fact gets causes.
_CATCH_ALL = ("connect", "tls", "reject", "abort", "timeout", "wire", "local", "violation")
# What earlier checks of the run established (judge.Prior.flags); a rule's `after` lists the ones it needs.
PRIOR_FLAGS = ("tcp-open", "tls-ok", "called-ae-found", "called-ae-variant", "calling-ae-checked",
               "any-calling-ae")
_RULE_OUT = {"causes": True, "note": False, "after": False, "agrees": False}
_PRODUCT_KEYS = {"product": True, "toolkit": True, "uid_prefixes": False, "version_names": False,
                 "confidence": False, "note": False, "quirks": False}

Text = Mapping[str, str]  # language -> text; "en" always present


# ----------------------------------------------------------------------------------------- YAML + marks

class _Map(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers where it and each of its keys were."""

    line: int = 0
    key_lines: dict[str, int]


class _Seq(list):  # type: ignore[type-arg]
    line: int = 0
    item_lines: list[int]


def _yaml_loader(path: Path) -> Any:
    import yaml  # lazy: the CLI's fast paths never load the knowledge base

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster

    class Loader(base):  # type: ignore[valid-type,misc]
        pass

    def mapping(loader: Any, node: Any) -> _Map:
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise BadInput(f"{path}:{line}: keys must be strings, got {key!r}")
            if key in out:
                raise BadInput(f"{path}:{line}: duplicate key {key!r} (first at line {out.key_lines[key]})")
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = line
        return out

    def sequence(loader: Any, node: Any) -> _Seq:
        out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader, yaml.YAMLError


def _read_yaml(path: Path) -> Any:
    from ..yamlguard import ExpansionTooLarge, check_expansion

    loader_cls, yaml_error = _yaml_loader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        check_expansion(node)  # alias bombs in a user's checks/*.yaml (dicomdoctor/yamlguard.py)
        return loader.construct_document(node) if node is not None else None
    except ExpansionTooLarge as exc:
        raise BadInput(f"{path}:{exc.line}: {exc}") from None
    except yaml_error as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"{where}: invalid YAML: {problem}") from None
    finally:
        dispose = getattr(loader, "dispose", None)
        if callable(dispose):
            dispose()


# --------------------------------------------------------------------------------------------- values

@dataclass(frozen=True, slots=True)
class Signature:
    """A lower-case substring, or a /regex/ (matched case-insensitively). `weight` is its specificity:
    the substring's length, or the regex's literal characters (so `.*` does not make a regex win)."""

    source: str
    regex: "re.Pattern[str] | None"
    weight: float

    def score(self, lower: str, raw: str) -> float:
        if self.regex is None:
            return self.weight if self.source in lower else 0.0
        found = self.regex.search(raw)
        if found is None:
            return 0.0
        return min(float(len(found.group(0))), self.weight + 8.0)


@dataclass(frozen=True, slots=True)
class StatusRule:
    """`codes` patterns are four hex digits where `x` matches any digit ("A7xx"); `service` None = any."""

    pattern: str
    service: str | None

    def score(self, code: int, service: str | None) -> float:
        if self.service is not None and service is not None and self.service != service:
            return 0.0
        digits = f"{code:04X}"
        if len(digits) != 4:
            return 0.0
        fixed = 0
        for want, got in zip(self.pattern, digits):
            if want == "X":
                continue
            if want != got:
                return 0.0
            fixed += 1
        bonus = 1.0 if (self.service is not None and self.service == service) else \
            (0.5 if self.service is None else 0.0)
        return fixed + bonus


def rule_value(value: object) -> str:
    """The one spelling a rule's condition and a fact are compared in: 7 and "7", True and "true" match."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


@dataclass(frozen=True, slots=True)
class Rule:
    """One judgement rule of `checks/_rules.yaml`: conditions on the fact (`when`: key -> allowed values),
    the earlier evidence it needs (`after`: judge.Prior flags), and the ranked cause ids it gives."""

    section: str
    when: Mapping[str, frozenset[str]]
    after: frozenset[str]
    causes: tuple[str, ...]
    note: Text | None
    agrees: bool | None  # raw-syn: does the raw probe's reading agree with the connect outcome?
    where: str  # "file:line"

    def matches(self, facts: Mapping[str, object], flags: frozenset[str]) -> bool:
        if not self.after <= flags:
            return False
        for key, allowed in self.when.items():
            value = facts.get(key)
            if value is None or rule_value(value) not in allowed:
                return False
        return True

    def note_text(self, lang: str = "en") -> str:
        return _pick(self.note, lang)


@dataclass(frozen=True, slots=True)
class CauseEntry:
    id: str
    title: Text
    explanation: Text
    fixes: tuple[Text, ...]
    refs: tuple[str, ...]
    signatures: tuple[Signature, ...]
    statuses: tuple[StatusRule, ...]
    prior: float
    check: str | None  # None: a shared cause
    where: str  # "file:line"

    def to_cause(self, lang: str = "en") -> model.Cause:
        return model.Cause(id=self.id, title=_pick(self.title, lang), explanation=_pick(self.explanation, lang),
                           fixes=tuple(_pick(f, lang) for f in self.fixes), refs=self.refs)


@dataclass(frozen=True, slots=True)
class CheckEntry:
    id: str
    title: Text
    verifies: Text
    causes: tuple[str, ...]  # defined in this check's file
    also: tuple[str, ...]  # shared or other checks' causes this check can report
    where: str


@dataclass(frozen=True, slots=True)
class ProductEntry:
    product: str
    toolkit: str
    uid_prefixes: tuple[str, ...]
    version_names: tuple[tuple[str, "re.Pattern[str] | None"], ...]
    confidence: str
    note: Text | None
    quirks: tuple[Text, ...]

    def version_match(self, version_name: str) -> tuple[bool, str | None]:
        for text, regex in self.version_names:
            if regex is None:
                if version_name.upper().startswith(text.upper()):
                    return True, None
                continue
            found = regex.search(version_name)
            if found is not None:
                return True, found.groupdict().get("version")
        return False, None


def _pick(text: Text | None, lang: str) -> str:
    if not text:
        return ""
    return text.get(lang) or text.get(lang.split("-")[0]) or text["en"]


# ------------------------------------------------------------------------------------------ validation

class _File:
    """Validation helpers bound to one file, so every message carries file:line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> BadInput:
        return BadInput(f"{self.path}:{line}: {message}")

    def keys(self, node: _Map, allowed: Mapping[str, bool], what: str) -> None:
        for key in node:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(node.key_lines[key], f"unknown key {key!r} in {what} (allowed: {known})")
        for key, required in allowed.items():
            if required and key not in node:
                raise self.fail(node.line, f"{what} lacks {key!r}")

    def mapping(self, value: Any, line: int, what: str) -> _Map:
        if not isinstance(value, _Map):
            raise self.fail(line, f"{what} must be a mapping, got {_kind(value)}")
        return value

    def seq(self, value: Any, line: int, what: str, *, empty_ok: bool = True) -> _Seq:
        if not isinstance(value, _Seq):
            raise self.fail(line, f"{what} must be a list, got {_kind(value)}")
        if not value and not empty_ok:
            raise self.fail(line, f"{what} must not be empty")
        return value

    def string(self, value: Any, line: int, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line, f"{what} must be a non-empty string, got {_kind(value)}"
                            + (" (quote it)" if isinstance(value, (int, float, bool, _Map)) else ""))
        return value.strip()

    def text(self, value: Any, line: int, what: str) -> dict[str, str]:
        node = self.mapping(value, line, f"{what} (a mapping of language -> text, e.g. {{en: ..., zh: ...}})")
        out: dict[str, str] = {}
        for lang, body in node.items():
            if not LANG.match(lang):
                raise self.fail(node.key_lines[lang], f"{what}: {lang!r} is not a language code (en, zh...)")
            out[lang] = " ".join(self.string(body, node.key_lines[lang], f"{what}.{lang}").split())
        if "en" not in out:
            raise self.fail(node.line, f"{what} lacks the English text 'en'")
        return out

    def strings(self, value: Any, line: int, what: str) -> list[tuple[str, int]]:
        items = self.seq(value, line, what)
        return [(self.string(v, items.item_lines[i], f"{what}[{i}]"), items.item_lines[i])
                for i, v in enumerate(items)]


def _kind(value: Any) -> str:
    if isinstance(value, _Map):
        return "a mapping"
    if isinstance(value, _Seq):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _literal_weight(pattern: str) -> float:
    stripped = re.sub(r"\[[^\]]*\]|\\.|\(\?P<\w+>|\(\?:|\{\d*,?\d*\}|[.*+?(){}|^$]", "", pattern)
    return float(max(len(stripped), 1))


def _signature(f: _File, text: str, line: int) -> Signature:
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        source = text[1:-1]
        try:
            regex = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise f.fail(line, f"signature {text!r} is not a valid regex: {exc}") from None
        return Signature(text, regex, _literal_weight(source))
    if text != text.lower():
        raise f.fail(line, f"signature {text!r} must be lower-case (matching ignores case), or a /regex/")
    return Signature(text, None, float(len(text)))


def _cause(f: _File, node: Any, line: int, check: str | None) -> CauseEntry:
    c = f.mapping(node, line, "a cause")
    f.keys(c, _CAUSE_KEYS, f"cause {c['id']}" if isinstance(c.get("id"), str) else "a cause")
    cid = f.string(c["id"], c.key_lines["id"], "cause id")
    if not CAUSE_ID.match(cid):
        raise f.fail(c.key_lines["id"], f"cause id {cid!r} must be lower-case words joined by '-'")
    what = f"cause {cid}"
    fixes_node = f.seq(c["fixes"], c.key_lines["fixes"], f"{what}: fixes", empty_ok=False)
    fixes = tuple(f.text(v, fixes_node.item_lines[i], f"{what}: fixes[{i}]") for i, v in enumerate(fixes_node))
    refs = tuple(s for s, _ in f.strings(c.get("refs", _Seq()), c.key_lines.get("refs", c.line), f"{what}: refs"))
    sigs = tuple(_signature(f, s, ln) for s, ln in
                 f.strings(c.get("signatures", _Seq()), c.key_lines.get("signatures", c.line), f"{what}: signatures"))
    rules: list[StatusRule] = []
    if "statuses" in c:
        st = f.seq(c["statuses"], c.key_lines["statuses"], f"{what}: statuses")
        for i, item in enumerate(st):
            rule = f.mapping(item, st.item_lines[i], f"{what}: statuses[{i}]")
            f.keys(rule, _STATUS_KEYS, f"{what}: statuses[{i}]")
            service = None
            if "service" in rule:
                service = f.string(rule["service"], rule.key_lines["service"], "service").lower()
                if service not in SERVICES:
                    raise f.fail(rule.key_lines["service"], f"unknown service {service!r} "
                                 f"(expected one of: {', '.join(SERVICES)})")
            codes = f.seq(rule["codes"], rule.key_lines["codes"], f"{what}: statuses[{i}].codes", empty_ok=False)
            for j, code in enumerate(codes):
                if not isinstance(code, str) or not STATUS_PATTERN.match(code):
                    raise f.fail(codes.item_lines[j], f"status code {code!r} must be four hex digits or 'x' "
                                 "wildcards in quotes, e.g. \"A801\" or \"A7xx\"")
                rules.append(StatusRule(code.upper(), service))
    prior = c.get("prior", 0.5)
    if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not 0.0 <= float(prior) <= 1.0:
        raise f.fail(c.key_lines.get("prior", c.line), f"{what}: prior must be a number from 0 to 1")
    return CauseEntry(id=cid, title=f.text(c["title"], c.key_lines["title"], f"{what}: title"),
                      explanation=f.text(c["explanation"], c.key_lines["explanation"], f"{what}: explanation"),
                      fixes=fixes, refs=refs, signatures=sigs, statuses=tuple(rules), prior=float(prior),
                      check=check, where=f"{f.path}:{c.line}")


def _rules(f: _File, section: str, node: Any, line: int) -> tuple[Rule, ...]:
    items = f.seq(node, line, f"rules section {section}", empty_ok=False)
    allowed = {**{k: False for k in RULE_FACTS[section]}, **_RULE_OUT}
    if section != "raw-syn":
        allowed.pop("agrees")
    out: list[Rule] = []
    for i, item in enumerate(items):
        what = f"{section}[{i}]"
        r = f.mapping(item, items.item_lines[i], f"rule {what}")
        f.keys(r, allowed, f"rule {what}")
        when: dict[str, frozenset[str]] = {}
        for key in RULE_FACTS[section]:
            if key not in r:
                continue
            values = r[key] if isinstance(r[key], _Seq) else [r[key]]
            if not values or any(isinstance(v, (_Map, _Seq)) or v is None for v in values):
                raise f.fail(r.key_lines[key], f"rule {what}: {key} must be a value or a list of values")
            when[key] = frozenset(rule_value(v) for v in values)
        after = frozenset(s for s, _ in f.strings(r.get("after", _Seq()), r.key_lines.get("after", r.line),
                                                    f"rule {what}: after"))
        unknown = sorted(after - set(PRIOR_FLAGS))
        if unknown:
            raise f.fail(r.key_lines["after"], f"rule {what}: unknown prior flag(s) {', '.join(unknown)} "
                         f"(known: {', '.join(PRIOR_FLAGS)})")
        causes = f.strings(f.seq(r["causes"], r.key_lines["causes"], f"rule {what}: causes", empty_ok=False),
                           r.key_lines["causes"], f"rule {what}: causes")
        for cid, ln in causes:
            if not CAUSE_ID.match(cid):
                raise f.fail(ln, f"rule {what}: cause id {cid!r} must be lower-case words joined by '-'")
        agrees: bool | None = None
        if section == "raw-syn":
            if not isinstance(r.get("agrees"), bool):
                raise f.fail(r.key_lines.get("agrees", r.line), f"rule {what}: agrees must be true or false")
            agrees = r["agrees"]
        note = f.text(r["note"], r.key_lines["note"], f"rule {what}: note") if "note" in r else None
        out.append(Rule(section, when, after, tuple(dict.fromkeys(c for c, _ in causes)), note, agrees,
                        f"{f.path}:{r.line}"))
    if section in _CATCH_ALL and (out[-1].when or out[-1].after):
        raise f.fail(items.item_lines[-1], f"the last rule of {section} must match anything (no conditions), "
                     f"so that every fact gets causes")
    return tuple(out)


def _product(f: _File, node: Any, line: int) -> ProductEntry:
    p = f.mapping(node, line, "a product")
    f.keys(p, _PRODUCT_KEYS, "a product")
    name = f.string(p["product"], p.key_lines["product"], "product")
    versions: list[tuple[str, "re.Pattern[str] | None"]] = []
    for text, ln in f.strings(p.get("version_names", _Seq()), p.key_lines.get("version_names", p.line),
                              f"{name}: version_names"):
        if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
            try:
                versions.append((text, re.compile(text[1:-1], re.IGNORECASE)))
            except re.error as exc:
                raise f.fail(ln, f"version name {text!r} is not a valid regex: {exc}") from None
        else:
            versions.append((text, None))
    confidence = f.string(p.get("confidence", "medium"), p.key_lines.get("confidence", p.line), "confidence")
    if confidence not in CONFIDENCES:
        raise f.fail(p.key_lines["confidence"], f"confidence must be one of {', '.join(CONFIDENCES)}")
    quirks: tuple[Text, ...] = ()
    if "quirks" in p:
        q = f.seq(p["quirks"], p.key_lines["quirks"], f"{name}: quirks")
        quirks = tuple(f.text(v, q.item_lines[i], f"{name}: quirks[{i}]") for i, v in enumerate(q))
    return ProductEntry(
        product=name, toolkit=f.string(p["toolkit"], p.key_lines["toolkit"], "toolkit"),
        uid_prefixes=tuple(s for s, _ in f.strings(p.get("uid_prefixes", _Seq()),
                                                    p.key_lines.get("uid_prefixes", p.line), "uid_prefixes")),
        version_names=tuple(versions), confidence=confidence,
        note=f.text(p["note"], p.key_lines["note"], f"{name}: note") if "note" in p else None, quirks=quirks)


# ------------------------------------------------------------------------------------- the knowledge base

@dataclass
class KnowledgeBase:
    lang: str = "en"
    directory: Path | None = None
    causes_by_id: dict[str, CauseEntry] = field(default_factory=dict)
    checks: dict[str, CheckEntry] = field(default_factory=dict)
    products: list[ProductEntry] = field(default_factory=list)
    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)

    # --- judgement rules
    def first_rule(self, section: str, facts: Mapping[str, object],
                   flags: "frozenset[str]" = frozenset()) -> Rule | None:
        """The first rule of `section` whose conditions hold for `facts` and whose `after` flags are all in
        `flags`; None when none does (sections other than raw-syn end with a catch-all)."""
        for rule in self.rules.get(section, ()):
            if rule.matches(facts, flags):
                return rule
        return None

    # --- causes
    def all_cause_ids(self) -> list[str]:
        return list(self.causes_by_id)

    def has_cause(self, cause_id: str) -> bool:
        return cause_id in self.causes_by_id

    def entry(self, cause_id: str) -> CauseEntry:
        try:
            return self.causes_by_id[cause_id]
        except KeyError:
            raise BadInput(f"unknown cause id {cause_id!r} (not in the knowledge base {self.directory})") from None

    def cause(self, cause_id: str, lang: str | None = None, *, strict: bool = True) -> model.Cause:
        """The cause in `lang` (default: the KB's language). Unknown ids raise BadInput, or with
        strict=False give a clearly-named placeholder so that a finding is never lost."""
        found = self.causes_by_id.get(cause_id)
        if found is None:
            if strict:
                self.entry(cause_id)
            return model.Cause(id=cause_id, title=f"{cause_id} (no knowledge-base entry)")
        return found.to_cause(lang or self.lang)

    def causes_for_check(self, check_id: str, lang: str | None = None) -> tuple[model.Cause, ...]:
        """The causes a check can report: those of its file, then the shared ones it lists under `also`."""
        entry = self.check(check_id)
        return tuple(self.cause(cid, lang) for cid in entry.causes + entry.also)

    # --- checks
    def check_ids(self) -> list[str]:
        return list(self.checks)

    def check(self, check_id: str) -> CheckEntry:
        try:
            return self.checks[check_id]
        except KeyError:
            raise BadInput(f"no knowledge-base file for check {check_id!r} "
                           f"(expected {self.directory}/{check_id}.yaml)") from None

    def check_title(self, check_id: str, lang: str | None = None) -> str:
        return _pick(self.check(check_id).title, lang or self.lang)

    def check_verifies(self, check_id: str, lang: str | None = None) -> str:
        return _pick(self.check(check_id).verifies, lang or self.lang)

    # --- matching
    def match_text(self, text: str, *, check: str | None = None,
                   limit: int | None = None) -> list[tuple[str, float]]:
        """Rank causes by how specifically their signatures match `text` (an error message or log
        excerpt). Score = the best signature's specificity, plus a little for further matches, plus the
        cause's prior (which breaks ties: the guide's most likely cause first)."""
        raw = " ".join(str(text).split())
        lower = raw.lower()
        allowed: set[str] | None = None
        if check is not None:
            entry = self.check(check)
            allowed = set(entry.causes + entry.also)
        ranked: list[tuple[float, int, str]] = []
        for order, cause in enumerate(self.causes_by_id.values()):
            if allowed is not None and cause.id not in allowed:
                continue
            scores = sorted((s.score(lower, raw) for s in cause.signatures), reverse=True)
            scores = [s for s in scores if s > 0]
            if not scores:
                continue
            best = scores[0]
            total = best + min(0.25 * sum(scores[1:]), 0.5 * best) + cause.prior
            ranked.append((round(total, 3), order, cause.id))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        out = [(cid, score) for score, _, cid in ranked]
        return out[:limit] if limit is not None else out

    def causes_for_status(self, code: int, service: str | None = None) -> list[tuple[str, float]]:
        """Causes whose `statuses` rules match this DIMSE status (exact codes beat ranges; a rule for
        this very service beats a rule for any service)."""
        svc = service.lower() if service else None
        ranked: list[tuple[float, int, str]] = []
        for order, cause in enumerate(self.causes_by_id.values()):
            best = max((r.score(code, svc) for r in cause.statuses), default=0.0)
            if best > 0:
                ranked.append((round(best + cause.prior, 3), order, cause.id))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        return [(cid, score) for score, _, cid in ranked]

    # --- products
    def product(self, name: str) -> ProductEntry | None:
        return next((p for p in self.products if p.product == name), None)

    def identify_product(self, implementation_class_uid: str | None, version_name: str | None,
                         lang: str | None = None) -> dict[str, Any]:
        """Guess the peer's product from the implementation items of its A-ASSOCIATE-AC."""
        lang = lang or self.lang
        uid = (implementation_class_uid or "").strip().rstrip("\x00 ")
        ver = (version_name or "").strip().rstrip("\x00 ")
        by_uid: ProductEntry | None = None
        longest = -1
        for p in self.products:
            for prefix in p.uid_prefixes:
                if not uid or not (uid == prefix.rstrip(".") or uid.startswith(prefix)):
                    continue
                # Toolkits that share a UID root (dcmjs-dimse and a Go library) are told apart by version name.
                if len(prefix) > longest or (len(prefix) == longest and ver and p.version_match(ver)[0]):
                    by_uid, longest = p, len(prefix)
        by_ver: ProductEntry | None = None
        version: str | None = None
        for p in self.products:
            ok, found = p.version_match(ver) if ver else (False, None)
            if ok:
                by_ver, version = p, found
                break
        chosen = by_uid or by_ver
        if chosen is None:
            return {"product": None, "toolkit": None, "confidence": "none", "version": None, "quirks": [],
                    "note": "unknown implementation" if (uid or ver) else "the peer sent no implementation items",
                    "implementation_class_uid": uid or None, "implementation_version_name": ver or None}
        if by_uid is not None and by_ver is not None and by_uid is not by_ver:
            confidence = "low"  # e.g. a vendor that kept another toolkit's version name
        elif by_uid is not None and by_ver is not None:
            confidence = "high" if chosen.confidence != "low" else "medium"
            if chosen.confidence == "medium":
                confidence = "medium"
        elif by_uid is not None:
            confidence = chosen.confidence
        else:
            confidence = "low" if chosen.confidence == "low" else "medium"
        if version is None and by_uid is chosen and ver:
            version = chosen.version_match(ver)[1]
        return {"product": chosen.product, "toolkit": chosen.toolkit, "confidence": confidence,
                "version": version, "quirks": [_pick(q, lang) for q in chosen.quirks],
                "note": _pick(chosen.note, lang), "implementation_class_uid": uid or None,
                "implementation_version_name": ver or None}


# ------------------------------------------------------------------------------------------ loading

def _load_dir(directory: Path, lang: str) -> KnowledgeBase:
    if not directory.is_dir():
        raise BadInput(f"knowledge base directory {directory} does not exist")
    kb = KnowledgeBase(lang=lang, directory=directory)
    pending_also: list[tuple[_File, str, int, str]] = []
    for path in sorted(directory.glob("*.yaml")):
        f = _File(path)
        doc = _read_yaml(path)
        if doc is None:
            continue
        root = f.mapping(doc, 1, "the file")
        if "products" in root:
            f.keys(root, {"products": True}, "a products file")
            items = f.seq(root["products"], root.key_lines["products"], "products")
            kb.products.extend(_product(f, v, items.item_lines[i]) for i, v in enumerate(items))
            continue
        if "rules" in root:
            f.keys(root, _RULES_KEYS, "a rules file")
            for section in RULE_FACTS:
                if section in root:
                    if section in kb.rules:
                        raise f.fail(root.key_lines[section], f"rules section {section!r} is defined twice "
                                     f"(first at {kb.rules[section][0].where if kb.rules[section] else '?'})")
                    kb.rules[section] = _rules(f, section, root[section], root.key_lines[section])
            continue
        if "check" in root:
            f.keys(root, _CHECK_KEYS, "a check file")
            check_id = f.string(root["check"], root.key_lines["check"], "check")
            if not CHECK_ID.match(check_id):
                raise f.fail(root.key_lines["check"], f"check id {check_id!r} must look like 'net.reachable'")
            if path.stem != check_id:
                raise f.fail(root.key_lines["check"], f"check {check_id!r} must live in {check_id}.yaml")
            owner: str | None = check_id
        elif "shared" in root:
            f.keys(root, _SHARED_KEYS, "a shared-causes file")
            owner = None
        else:
            raise f.fail(root.line, "expected a 'check:' file, a 'shared: true' file, a 'products:' file or a "
                         "'rules:' file")
        ids: list[str] = []
        if "causes" in root:
            items = f.seq(root["causes"], root.key_lines["causes"], "causes")
            for i, node in enumerate(items):
                entry = _cause(f, node, items.item_lines[i], owner)
                if entry.id in kb.causes_by_id:
                    raise f.fail(items.item_lines[i], f"duplicate cause id {entry.id!r} "
                                 f"(already defined at {kb.causes_by_id[entry.id].where})")
                kb.causes_by_id[entry.id] = entry
                ids.append(entry.id)
        if owner is not None:
            also: list[str] = []
            if "also" in root:
                for cid, ln in f.strings(root["also"], root.key_lines["also"], "also"):
                    pending_also.append((f, cid, ln, owner))
                    also.append(cid)
            kb.checks[owner] = CheckEntry(
                id=owner, title=f.text(root["title"], root.key_lines["title"], "title"),
                verifies=f.text(root["verifies"], root.key_lines["verifies"], "verifies"),
                causes=tuple(ids), also=tuple(dict.fromkeys(c for c in also if c not in ids)),
                where=f"{path}:{root.line}")
    for f, cid, ln, owner in pending_also:
        if cid not in kb.causes_by_id:
            raise f.fail(ln, f"check {owner} lists unknown cause {cid!r} under 'also'")
    for rules in kb.rules.values():
        for rule in rules:
            for cid in rule.causes:
                if cid not in kb.causes_by_id:
                    raise BadInput(f"{rule.where}: {rule.section} rule gives unknown cause {cid!r} "
                                   f"(define it in a checks/*.yaml file)")
    return kb


@functools.lru_cache(maxsize=8)
def _cached(directory: str, lang: str) -> KnowledgeBase:
    return _load_dir(Path(directory), lang)


def load_kb(lang: str = "en", directory: "str | Path | None" = None) -> KnowledgeBase:
    """The knowledge base (cached per directory and language). `directory` defaults to the packaged
    `dicomdoctor/_data/checks` or, in a source tree, the repository's `checks/`."""
    folder = Path(directory) if directory is not None else data_dir("checks")
    return _cached(str(folder.resolve()), lang or "en")


def clear_cache() -> None:
    _cached.cache_clear()


def identify_product(implementation_class_uid: str | None, version_name: str | None,
                     lang: str = "en") -> dict[str, Any]:
    """Module-level shortcut used by the peer.identity check."""
    return load_kb(lang).identify_product(implementation_class_uid, version_name, lang)


def iter_texts(kb: KnowledgeBase) -> Iterable[tuple[str, str, Text]]:
    """(cause id, field, text) for every translatable text of every cause: for completeness tests."""
    for c in kb.causes_by_id.values():
        yield c.id, "title", c.title
        yield c.id, "explanation", c.explanation
        for i, fix in enumerate(c.fixes):
            yield c.id, f"fixes[{i}]", fix
