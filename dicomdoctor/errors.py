"""User-facing errors. `BadInput` ends the CLI with one clear message and exit code 3 (DESIGN.md)."""

from __future__ import annotations


class DicomDoctorError(Exception):
    """Base of the errors this package raises on purpose."""


class BadInput(DicomDoctorError):
    """The user's input is wrong: a bad target, an AE title over 16 characters, an unreadable playbook,
    an unknown check. The message names what is wrong (file:line for YAML) and is printed as is."""

    exit_code = 3
