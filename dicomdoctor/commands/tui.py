"""`dicomdoctor tui [TARGET] [--playbook NAME|FILE] [common options]`: the interactive doctor (Textual).

Options are checked here, before the screen opens (a bad --ca or playbook is one message and exit 3, like
every command). A bad TARGET is not: the screen opens with it in the target field and the error under it,
so it can be corrected in place. Textual is imported only here, when the command runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..engine.playbook import load_playbook
from ..errors import BadInput
from ..target import Target
from ._common import CLI_DEFAULTS, options_from_args, targets_from_args, tls_from_args

if TYPE_CHECKING:
    from ..tui.session import TuiConfig


def build_config(args: argparse.Namespace) -> "TuiConfig":
    """The TuiConfig for these arguments (split out for the tests)."""
    from ..tui.session import TuiConfig

    playbook = load_playbook(args.playbook)
    options = options_from_args(args, playbook)
    tls = tls_from_args(args)
    if tls is None:
        tls = playbook.defaults.get("tls")
    calling = args.calling_ae
    if calling == CLI_DEFAULTS["calling_ae"]:
        calling = playbook.defaults.get("calling_ae", calling)
    called = args.called_ae
    targets: tuple[Target, ...] = ()
    text = getattr(args, "target", None) or ""
    error = ""
    if text:
        try:
            targets = (targets_from_args(args, playbook),)
        except BadInput as exc:
            error = str(exc)
    return TuiConfig(options=options, playbook=args.playbook, targets=targets, target_text=text,
                     target_error=error, calling_ae=calling, called_ae=called, tls=tls,
                     overrides=tuple(getattr(args, "overrides", None) or ()))


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    from ..tui.app import DoctorApp  # lazy: textual costs ~0.3 s to import

    result = DoctorApp(config).run()
    return int(result or 0)
