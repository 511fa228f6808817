"""Options may come before, between or after positionals (DESIGN.md "Command line"), for every sub-command,
as dcmtk and pynetdicom users type them; a usage error names the program once and exits 3."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from dicomdoctor.cli import build_parser, main, parse_args

PARSER = build_parser()
COMMANDS: dict[str, argparse.ArgumentParser] = next(
    dict(a.choices) for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))


def _positional_words(sub: argparse.ArgumentParser) -> list[list[str]]:
    """Sample words per positional: two for a list (nargs * or +), one otherwise."""
    out = []
    for i, action in enumerate(a for a in sub._actions if not a.option_strings):
        n = 2 if action.nargs in ("*", "+") else 1
        out.append([f"P{i}W{j}" for j in range(n)])
    return out


def _value_options(sub: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """Two options that take one value, with a valid value each."""
    found = []
    for action in sub._actions:
        if isinstance(action, argparse._StoreAction) and action.option_strings and action.nargs is None:
            value = str(list(action.choices)[-1]) if action.choices else "7"
            found.append((action.option_strings[-1], value))
    return found[:2]


def _flag(sub: argparse.ArgumentParser) -> list[str]:
    flags = [a.option_strings[-1] for a in sub._actions
             if isinstance(a, argparse._StoreTrueAction) and a.option_strings]
    return flags[:1]


def _layouts(command: str) -> list[list[str]]:
    sub = COMMANDS[command]
    words = [w for group in _positional_words(sub) for w in group]
    opts = [w for pair in _value_options(sub) for w in pair] + _flag(sub)
    layouts = [[command, *opts, *words], [command, *words, *opts]]
    for cut in range(1, len(words)):  # an option between every pair of positionals
        layouts.append([command, *words[:cut], *opts, *words[cut:]])
    if len(opts) >= 3 and words:  # spread: one before, one between or after, the flag last
        layouts.append([command, *opts[:2], *words[:1], *opts[2:-1], *words[1:], opts[-1]])
    return layouts


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_options_before_between_and_after_positionals(command: str) -> None:
    layouts = _layouts(command)
    parsed = [vars(parse_args(PARSER, argv)) for argv in layouts]
    assert all(p == parsed[0] for p in parsed), list(zip(layouts, parsed))
    assert parsed[0]["command"] == command
    sub = COMMANDS[command]
    # Every sample value landed where it belongs.
    for action, words in zip((a for a in sub._actions if not a.option_strings), _positional_words(sub)):
        got = parsed[0][action.dest]
        assert (got if isinstance(got, list) else [got]) == words
    for option, value in _value_options(sub):
        dest = next(a.dest for a in sub._actions if option in a.option_strings)
        assert str(parsed[0][dest]).upper() == value.upper()


def test_the_store_command_of_the_issue() -> None:
    args = parse_args(PARSER, ["store", "STORESCP@127.0.0.1:11112", "--max-pdu", "131072", "a.dcm", "b.dcm"])
    assert (args.target, args.paths, args.max_pdu) == ("STORESCP@127.0.0.1:11112", ["a.dcm", "b.dcm"], 131072)
    args = parse_args(PARSER, ["find", "-k", "PatientID=1", "PACS@h:104", "--level", "patient", "-k", "PatientName="])
    assert (args.target, args.keys, args.level) == ("PACS@h:104", ["PatientID=1", "PatientName="], "PATIENT")


@pytest.mark.parametrize("argv, words", [
    (["store", "X@127.0.0.1:1", "--max-pdu", "lots"], "store: argument --max-pdu"),
    (["echo", "X@127.0.0.1:1", "extra-word"], "echo: unrecognized arguments: extra-word"),
    (["nosuchcommand"], "invalid choice"),
    (["--nosuchoption", "echo", "h"], "unrecognized arguments: --nosuchoption"),
])
def test_a_usage_error_names_the_program_once(argv: list[str], words: str, capsys: Any) -> None:
    assert main(argv) == 3
    err = capsys.readouterr().err.strip()
    assert words in err and err.count("dicomdoctor") == 1 and err.startswith("dicomdoctor: "), err
    assert "Traceback" not in err


def test_help_and_version_still_work(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(PARSER, ["--version"])
    assert exc.value.code == 0 and "dicomdoctor" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parse_args(PARSER, ["store", "--help"])
    assert "FILE|DIR" in capsys.readouterr().out
