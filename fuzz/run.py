"""Mutation fuzzing of the parsers, and the simulator under abuse.

    python fuzz/run.py --minutes 10                       # every target, the time split between them
    python fuzz/run.py --minutes 5 --target ul --inputs 1000000
    python fuzz/run.py --target sim --connections 5000 --concurrency 20

Per target it prints inputs tried, crashes and hangs (a hang: one input taking more than --hang seconds,
1 s by default; each input runs under a SIGALRM guard that interrupts it). The first input of every new
crash signature (exception type + innermost dicomdoctor frame) is saved under tests/data/fuzz/<target>/,
where tests/fuzzing/test_fuzz_regressions.py replays it: keep the ones that found a bug.

Seeded: (--seed, target) decides every input, so a run can be repeated exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python fuzz/run.py` from anywhere
    sys.path.insert(0, str(ROOT))

from fuzz.mutate import mutate  # noqa: E402

CRASH_DIR = ROOT / "tests" / "data" / "fuzz"
PARSER_TARGETS = ("ul", "ulconn", "dimse", "pcap")
ALL_TARGETS = PARSER_TARGETS + ("sim",)
POOL = 256  # mutated inputs kept as further seeds (a cheap way to get deeper than one edit from a seed)


class Hang(BaseException):
    """Raised by the per-input guard (a BaseException: the code under test's `except Exception` must not
    swallow it)."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


@dataclass
class Result:
    target: str
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    signatures: dict[str, int] = field(default_factory=dict)
    saved: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        text = (f"{self.target:7s} {self.inputs:>9,d} inputs in {self.seconds:7.1f} s ({rate:,.0f}/s): "
                f"{self.crashes} crashes, {self.hangs} hangs")
        if self.extra:
            text += "; " + ", ".join(f"{k} {v}" for k, v in self.extra.items())
        return text


def seeds_for(target: str) -> tuple[bytes, ...]:
    from fuzz import seeds

    return {"ul": seeds.ul_pdus, "ulconn": seeds.ulconn_streams, "dimse": seeds.dimse_streams,
            "pcap": seeds.captures}[target]()


def signature(exc: BaseException) -> str:
    """Exception type + the innermost frame inside dicomdoctor (where the bug is), e.g.
    "struct.error@dicomdoctor/capture/reader.py:291"."""
    where = "?"
    package = ROOT / "dicomdoctor"
    for fs in traceback.extract_tb(exc.__traceback__):
        if Path(fs.filename).resolve().is_relative_to(package):
            where = f"{os.path.relpath(fs.filename, ROOT)}:{fs.lineno}"
    return f"{type(exc).__module__}.{type(exc).__name__}@{where}"


def save(target: str, kind: str, data: bytes, crash_dir: Path) -> Path:
    folder = crash_dir / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def fuzz_target(target: str, *, seconds: float, max_inputs: int | None, seed: int, hang: float = 1.0,
                crash_dir: Path | None = CRASH_DIR, log: Callable[[str], None] = print) -> Result:
    """Mutate seeds and run them through `target` until the time or the input count runs out."""
    from fuzz.targets import TARGETS

    run = TARGETS[target]
    base = list(seeds_for(target))
    pool: list[bytes] = []
    rng = random.Random(f"{seed}:{target}")
    res = Result(target)
    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.monotonic()
    deadline = t0 + seconds
    try:
        while max_inputs is None or res.inputs < max_inputs:
            if res.inputs % 256 == 0 and time.monotonic() > deadline:
                break
            corpus = base + pool
            data = mutate(rng.choice(corpus), rng, corpus)
            res.inputs += 1
            started = time.monotonic()
            try:
                signal.setitimer(signal.ITIMER_REAL, hang)
                try:
                    run(data)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except Hang:
                _found(res, target, "hang", f"hang (> {hang:g} s)", data, crash_dir, log)
                continue
            except Exception as exc:  # a crash: anything a target lets escape
                _found(res, target, "crash", signature(exc), data, crash_dir, log, exc)
                continue
            if time.monotonic() - started > hang:  # finished, but only after the guard's time (C code)
                _found(res, target, "hang", f"slow (> {hang:g} s)", data, crash_dir, log)
                continue
            if res.inputs % 64 == 0:
                if len(pool) < POOL:
                    pool.append(data)
                else:
                    pool[rng.randrange(POOL)] = data
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        res.seconds = time.monotonic() - t0
    return res


def _found(res: Result, target: str, kind: str, sig: str, data: bytes, crash_dir: Path | None,
           log: Callable[[str], None], exc: BaseException | None = None) -> None:
    if kind == "hang":
        res.hangs += 1
    else:
        res.crashes += 1
    first = sig not in res.signatures
    res.signatures[sig] = res.signatures.get(sig, 0) + 1
    if first:
        where = ""
        if crash_dir is not None:
            path = save(target, kind, data, crash_dir)
            res.saved.append(str(path))
            where = f" -> {os.path.relpath(path, ROOT)}"
        log(f"  {target}: new {kind} {sig}: {exc!s:.200}{where}" if exc else f"  {target}: new {kind} {sig}{where}")


def _limits(text: str | None, names: Sequence[str]) -> dict[str, int]:
    """"N" (every parser target) or "ul=N,dimse=M" -> {target: N}."""
    if not text:
        return {}
    if "=" not in text:
        return {n: int(text) for n in names if n != "sim"}
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in PARSER_TARGETS:
            raise ValueError(f"{name.strip()!r} is not a parser target ({', '.join(PARSER_TARGETS)})")
        out[name.strip()] = int(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="total time, split evenly between the targets")
    ap.add_argument("--target", default="all", help=f"one of {', '.join(ALL_TARGETS)}, a comma list, or all")
    ap.add_argument("--inputs", default=None,
                    help="stop a parser target after this many inputs: N for every target, or per target "
                         "as ul=1000000,ulconn=400000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hang", type=float, default=1.0, help="seconds one input may take (default 1)")
    ap.add_argument("--connections", type=int, default=5000, help="sim: mutated connections (default 5000)")
    ap.add_argument("--concurrency", type=int, default=20, help="sim: connections at once (default 20)")
    ap.add_argument("--crash-dir", default=str(CRASH_DIR), help="where new crashing inputs go")
    ap.add_argument("--no-save", action="store_true", help="do not save crashing inputs")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # pydicom warns about every odd value a mutated capture carries
    names = ALL_TARGETS if args.target == "all" else tuple(t.strip() for t in args.target.split(","))
    unknown = [t for t in names if t not in ALL_TARGETS]
    if unknown:
        print(f"unknown target {', '.join(unknown)}: expected {', '.join(ALL_TARGETS)} or all", file=sys.stderr)
        return 3
    try:
        limits = _limits(args.inputs, names)
    except ValueError as exc:
        print(f"--inputs {args.inputs!r}: {exc}", file=sys.stderr)
        return 3
    share = args.minutes * 60.0 / len(names)
    crash_dir = None if args.no_save else Path(args.crash_dir)
    print(f"fuzz: seed {args.seed}, targets {', '.join(names)}, {share:.0f} s each"
          + (f", input limits {', '.join(f'{k} {v:,d}' for k, v in limits.items())}" if limits else ""),
          flush=True)
    results: list[Result] = []
    for name in names:
        if name == "sim":
            from fuzz.abuse import abuse_simulator

            res = abuse_simulator(connections=args.connections, concurrency=args.concurrency, seed=args.seed,
                                  seconds=max(share, 60.0), crash_dir=crash_dir)
        else:
            res = fuzz_target(name, seconds=share, max_inputs=limits.get(name), seed=args.seed, hang=args.hang,
                              crash_dir=crash_dir, log=lambda s: print(s, flush=True))
        results.append(res)
        print(res.line(), flush=True)
    print("summary:")
    for res in results:
        print("  " + res.line())
    bad = sum(r.crashes + r.hangs for r in results) + sum(1 for r in results if r.extra.get("echo") == "failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
