"""`dicomdoctor pcap FILE`: analyse a packet capture (pcap or pcapng) and report every DICOM association in it.

A missing, unreadable or non-capture file is bad input (exit 3, one message). Otherwise the exit code is the
report's verdict, as for every command (0 pass, 1 warn, 2 fail).
"""

from __future__ import annotations

import argparse
import os

from ..errors import BadInput
from ._common import emit


def run(args: argparse.Namespace) -> int:
    path = args.file
    if not os.path.exists(path):
        raise BadInput(f"{path}: no such file")
    if os.path.isdir(path):
        raise BadInput(f"{path}: is a folder, expected a pcap or pcapng file")
    if not os.path.isfile(path):  # a FIFO or device would block the reader (or never end)
        raise BadInput(f"{path}: not a regular file (a FIFO, device or socket); expected a pcap or pcapng file")
    from ..capture.analyse import CaptureFormatError, analyse_file

    try:
        report = analyse_file(path, lang=getattr(args, "lang", "en") or "en")
    except CaptureFormatError as exc:
        raise BadInput(str(exc)) from None
    return emit(report, args)
