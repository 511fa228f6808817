"""`dicomdoctor worklist TARGET [-k Key=Value ...]`: a Modality Worklist C-FIND as a one-off playbook (check
mwl.find). `--station`, `--modality` and `--date` pin the Scheduled Procedure Step as a modality does
(default: today, any station, any modality); -k adds or overrides any key (an empty value asks it back)."""

from __future__ import annotations

import argparse

from ._scu import keys_from_args, run_scu


def run(args: argparse.Namespace) -> int:
    from ..engine.checks.workflow import worklist_query

    params = {"station_ae": args.station or "", "modality": args.modality or "", "date": args.date,
              "keys": keys_from_args(args)}
    worklist_query(params)  # bad keys or dates are exit 3 before anything is sent
    return run_scu(args, "mwl.find", params, name="worklist")
