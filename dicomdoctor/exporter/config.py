"""The exporter's configuration (`dicomdoctor exporter --config exporter.yaml`).

```yaml
exporter: 1
timeout: 10            # a probe's deadline when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds
max_concurrency: 16    # probes running at once, all targets together
history: 50            # recent probes kept for the / page and /report
playbook: quick        # the module of a /probe without &playbook=
playbooks:             # modules: name -> shipped playbook name or file (default: the read-only shipped ones)
  quick: quick
  deep: /etc/dicomdoctor/deep.yaml
defaults: {calling_ae: MONITOR, timeout: 5}     # as in a playbook
targets:                                        # as in a playbook: the options of known targets
  - {called_ae: ARCHIVE, host: 10.1.2.3, port: 2762, tls: {ca: ca.pem}, label: archive}
```

A probe's `target=` text is matched against `targets:` by host and port (and the called AE title when both
give one); a match lends its TLS options, calling AE title and label. Any other target is probed with the
`defaults:`. Mistakes are BadInput naming file:line, as for playbooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..engine.playbook import Playbook, TargetSection, load_playbook, shipped_playbooks
from ..errors import BadInput
from ..target import DEFAULT_CALLING_AE, Target, parse_target

FORMAT_VERSION = 1
TOP_KEYS = ("exporter", "timeout", "max_concurrency", "history", "playbook", "playbooks", "defaults", "targets")
DEFAULT_TIMEOUT = 10.0
DEFAULT_MODULE = "quick"
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ExporterConfig:
    timeout: float = DEFAULT_TIMEOUT
    max_concurrency: int = 16
    history: int = 50
    default_module: str = DEFAULT_MODULE
    modules: Mapping[str, Playbook] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    targets: tuple[Target, ...] = ()
    source: str = "<built-in>"

    def module(self, name: str) -> Playbook:
        try:
            return self.modules[name]
        except KeyError:
            raise BadInput(f"unknown playbook {name!r}; this exporter serves: {', '.join(sorted(self.modules))}") \
                from None

    def target(self, text: str) -> Target:
        """The probe's target: `[CALLED_AE@]HOST[:PORT]` with the options of a configured target it names."""
        calling = str(self.defaults.get("calling_ae") or DEFAULT_CALLING_AE)
        called = self.defaults.get("called_ae") if "@" not in text else None
        asked = parse_target(text, calling_ae=calling, called_ae=called, tls=self.defaults.get("tls"))
        asked = asked.with_(user_identity=self.defaults.get("user_identity"))
        for known in self.targets:
            if (known.host.lower(), known.port) != (asked.host.lower(), asked.port):
                continue
            if asked.called_ae_given and known.called_ae_given and known.called_ae != asked.called_ae:
                continue
            if asked.called_ae_given:
                return known.with_(called_ae=asked.called_ae, called_ae_given=True)
            return known
        return asked


def _read_only(playbook: Playbook) -> bool:
    from ..engine import registry

    return not any(registry.get_check(ref.id).writes for ref in playbook.checks)


def default_modules() -> dict[str, Playbook]:
    """The shipped playbooks that only read: a URL must not make the exporter store instances on a PACS.
    One that does not load (e.g. it needs a check this installation lacks) is left out, not fatal."""
    out = {}
    for name in shipped_playbooks():
        try:
            playbook = load_playbook(name)
            if _read_only(playbook):
                out[name] = playbook
        except BadInput:
            continue
    return out


def default_config() -> ExporterConfig:
    return ExporterConfig(modules=default_modules())


def load_config(path: str | None) -> ExporterConfig:
    if path is None:
        return default_config()
    file = Path(path).expanduser()
    try:
        if file.is_file() and file.stat().st_size > MAX_CONFIG_BYTES:
            raise BadInput(f"{path}: {file.stat().st_size} bytes; an exporter configuration is at most "
                           f"{MAX_CONFIG_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"--config {path}: is a folder, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"--config {path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInput(f"--config {path}: {exc.strerror or exc}") from None
    return parse_config(text, source=path, folder=file.resolve().parent)


def _number(section: TargetSection, doc: Any, key: str, default: float, *, integer: bool,
            minimum: float, maximum: float) -> float:
    if key not in doc:
        return default
    value = doc[key]
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or not minimum <= value <= maximum:
        kind = "a whole number" if integer else "a number"
        raise section.error(doc.key_lines[key], f"{key} must be {kind} from {minimum:g} to {maximum:g}, "
                            f"not {value!r}")
    return value


def parse_config(text: str, *, source: str = "<config>", folder: Path | None = None) -> ExporterConfig:
    section = TargetSection(source, folder or Path.cwd())
    doc = section.load(text)
    if doc is None:
        raise section.error(1, f"the file is empty; an exporter configuration starts with "
                               f"`exporter: {FORMAT_VERSION}`")
    if not isinstance(doc, dict) or not hasattr(doc, "key_lines"):
        raise section.error(getattr(doc, "line", 1), "an exporter configuration is a mapping (exporter:, "
                                                     "playbooks:, targets:, ...)")
    doc_any: Any = doc  # a _Map: a dict with the lines of its keys
    return _parse_doc(section, doc_any, source)


def _parse_doc(section: TargetSection, doc: Any, source: str) -> ExporterConfig:
    section.unknown_keys(doc, TOP_KEYS, "the exporter configuration")
    if doc.get("exporter") != FORMAT_VERSION or isinstance(doc.get("exporter"), bool):
        raise section.error(doc.key_lines.get("exporter", doc.line),
                            f"missing or unsupported `exporter: {FORMAT_VERSION}` (the format version)")
    timeout = float(_number(section, doc, "timeout", DEFAULT_TIMEOUT, integer=False, minimum=0.5, maximum=3600))
    concurrency = int(_number(section, doc, "max_concurrency", 16, integer=True, minimum=1, maximum=4096))
    history = int(_number(section, doc, "history", 50, integer=True, minimum=0, maximum=10000))
    modules = _modules(section, doc)
    default = doc.get("playbook", DEFAULT_MODULE if DEFAULT_MODULE in modules else next(iter(modules), ""))
    if not isinstance(default, str) or default not in modules:
        raise section.error(doc.key_lines.get("playbook", doc.line),
                            f"playbook {default!r} is not one of the modules: {', '.join(sorted(modules))}")
    defaults = section.defaults(doc)
    targets = section.targets(doc, defaults)
    return ExporterConfig(timeout=timeout, max_concurrency=concurrency, history=history, default_module=default,
                          modules=modules, defaults=defaults, targets=targets, source=source)


def _modules(section: TargetSection, doc: Any) -> dict[str, Playbook]:
    value = doc.get("playbooks")
    if value is None:
        return default_modules()
    line = doc.key_lines["playbooks"]
    if not isinstance(value, dict) or not value:
        raise section.error(line, "playbooks must be a mapping of module name to playbook (a shipped name "
                                  "or a file)")
    out: dict[str, Playbook] = {}
    for name, ref in value.items():
        where = value.key_lines.get(name, line) if hasattr(value, "key_lines") else line
        if not isinstance(name, str) or not name or not isinstance(ref, str) or not ref:
            raise section.error(where, f"playbooks: {name!r}: expected `name: playbook-name-or-file`")
        path = Path(ref).expanduser()
        if not path.is_absolute() and ("/" in ref or ref.endswith((".yaml", ".yml"))):
            path = section.folder / path
            ref = str(path)
        try:
            out[name] = load_playbook(ref)
        except BadInput as exc:
            raise section.error(where, f"playbooks: {name}: {exc}") from None
    return out

