"""Sentences the user reads, in the user's language: the checks' summaries and the clauses they are built from.

A check says `msg("{host} resolves to {addresses}", host=..., addresses=...)`. The English template is the
message's key (as in gettext): English output is the template filled in, and `--lang zh` looks the template
up in the catalogue `dicomdoctor/locale/zh/*.yaml` (one file per check module, so that the catalogue stays
next to what it translates when the tree is walked) and fills the same parameters in. A parameter that is
itself a `Msg` is rendered in the same language, so a summary built from clauses translates as a whole.

Peer-supplied text, host names, UIDs, numbers and error strings of the operating system are parameters: they
are never translated. A template missing from a catalogue falls back to English; tests/test_messages.py makes
sure none is missing, that each translation uses exactly the template's parameters, and that no entry is stale.

Why templates rather than translating whole rendered sentences: the runner renders each summary once, in the
run's language (like the causes it already takes from the knowledge base in that language), so JSON, the
reports and the TUI all show one text and nothing downstream needs to know about languages.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Union

LANGS = ("en", "zh")
_LOCALE = Path(__file__).resolve().parent / "locale"


def norm_lang(lang: str | None) -> str:
    """"zh-CN", "zh_TW", "ZH" -> "zh"; anything unknown -> "en"."""
    base = (lang or "en").split("-")[0].split("_")[0].lower()
    return base if base in LANGS else "en"


@dataclass(frozen=True, slots=True)
class Msg:
    """A sentence or clause: an English `template` (str.format syntax, named fields only) and its parameters."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, lang: str = "en") -> str:
        lang = norm_lang(lang)
        template = self.template if lang == "en" else catalogue(lang).get(self.template, self.template)
        values = {k: render(v, lang) if isinstance(v, (Msg, Fixed)) else v for k, v in self.params.items()}
        return template.format_map(values)

    def __str__(self) -> str:
        return self.render("en")

    def __bool__(self) -> bool:
        return bool(self.template)

    # `summary + verdict.summary_note()` keeps both parts as messages (str + Msg would otherwise be an error,
    # and an f-string would freeze the clause in English).
    def __add__(self, other: "Text") -> "Msg":
        return cat(self, other)

    def __radd__(self, other: "Text") -> "Msg":
        return cat(other, self)


@dataclass(frozen=True, slots=True)
class Fixed:
    """Text already written in each language (a knowledge-base note: `{"en": ..., "zh": ...}`)."""

    texts: Mapping[str, str]

    def render(self, lang: str = "en") -> str:
        lang = norm_lang(lang)
        return self.texts.get(lang) or self.texts.get("en", "")

    def __str__(self) -> str:
        return self.render("en")

    def __bool__(self) -> bool:
        return bool(self.texts.get("en"))

    def __add__(self, other: "Text") -> "Msg":
        return cat(self, other)

    def __radd__(self, other: "Text") -> "Msg":
        return cat(other, self)


Text = Union[str, Msg, Fixed]


def msg(template: str, **params: Any) -> Msg:
    """The message `template` (English, the catalogue's key) with its parameters."""
    return Msg(template, params)


def counted(n: int, one: str, many: str) -> Msg:
    """A count that reads right for one as for many: `counted(n, "{n} instance", "{n} instances")`. Both
    templates are catalogue keys; a language without plurals translates them alike."""
    return Msg(one if n == 1 else many, {"n": n})


def cat(*parts: Text, sep: Text = "") -> Msg:
    """Clauses side by side (`sep` between), each rendered in the message's language; empty parts dropped."""
    kept = [p for p in parts if p]
    names = [f"p{i}" for i in range(len(kept))]
    params: dict[str, Any] = dict(zip(names, kept))
    if len(kept) > 1 and sep:
        params["sep"] = sep
        template = "{sep}".join("{" + n + "}" for n in names)
    else:
        template = "".join("{" + n + "}" for n in names)
    return Msg(template, params)


def join(parts: Iterable[Text], sep: Text = ", ") -> Msg:
    """`sep.join(parts)` for texts of any kind."""
    return cat(*parts, sep=sep)


def render(text: Text | None, lang: str = "en") -> str:
    """Any text in `lang`: plain strings are language-neutral (or already English) and pass through."""
    if text is None:
        return ""
    if isinstance(text, (Msg, Fixed)):
        return text.render(lang)
    return text


def fields(template: str) -> frozenset[str]:
    """The parameter names a template uses (for the catalogue's consistency test)."""
    return frozenset(name.split(".")[0].split("[")[0]
                     for _, name, _, _ in string.Formatter().parse(template) if name)


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Mapping[str, str]:
    """template -> translation for `lang`, merged from every file of the language's folder. Loaded on first
    use only: an English run never reads it."""
    folder = _LOCALE / lang
    merged: dict[str, str] = {}
    if not folder.is_dir():
        return merged
    import yaml  # lazy: yaml costs import time an English run does not need

    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of English template -> translation")
        for key, value in data.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"{path}: {key!r}: template and translation must both be strings")
            # The same clause may be used by two modules; a differing second translation is a catalogue bug
            # that tests/test_messages.py reports (conflicts()), never a reason to fail a user's run.
            merged.setdefault(key, value)
    return merged


def conflicts(lang: str) -> list[str]:
    """Templates translated differently in two files of `lang`'s catalogue (for the catalogue's test)."""
    import yaml

    seen: dict[str, tuple[str, str]] = {}
    out: list[str] = []
    for path in sorted((_LOCALE / lang).glob("*.yaml")):
        for key, value in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if key in seen and seen[key][0] != value:
                out.append(f"{path.name} and {seen[key][1]} translate {key!r} differently")
            seen.setdefault(key, (value, path.name))
    return out


__all__ = ["Fixed", "LANGS", "Msg", "Text", "cat", "catalogue", "conflicts", "counted", "fields", "join", "msg", "norm_lang",
           "render"]
