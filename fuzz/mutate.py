"""A small, seeded byte mutator (AFL-style havoc): every input is a valid seed bent by a few edits.

Deterministic for a given `random.Random`, so a failing input can be regenerated from (seed, index), and the
suite's fuzz tests are reproducible. Length fields are the usual weak spot of binary parsers, so one edit
kind overwrites an aligned 2- or 4-byte field with a boundary value (0, 1, small, huge, the input's length).
"""

from __future__ import annotations

import random
from typing import Sequence

_BYTES = (0x00, 0x01, 0x02, 0x04, 0x06, 0x07, 0x10, 0x20, 0x40, 0x7F, 0x80, 0xFE, 0xFF)
_WORDS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 28, 32, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF, 0x4000, 0x7FFF,
          0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def _field(rng: random.Random, n: int) -> int:
    if rng.random() < 0.2:
        return rng.randrange(1 << (8 * min(4, n)))
    value = rng.choice(_WORDS)
    if rng.random() < 0.3:
        value += rng.randint(-4, 4)
    return value % (1 << 32)


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes] = (), max_edits: int = 4,
           max_size: int = 1 << 16) -> bytes:
    """`data` with 1..`max_edits` random edits (never longer than `max_size`)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, max_edits)):
        n = len(buf)
        kind = rng.randrange(10)
        pos = rng.randrange(n) if n else 0
        if kind == 0 and n:                                   # flip one bit
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1 and n:                                 # a boundary byte
            buf[pos] = rng.choice(_BYTES)
        elif kind == 2 and n:                                 # a random byte
            buf[pos] = rng.randrange(256)
        elif kind in (3, 4) and n >= 2:                       # a length field, big- or little-endian
            width = 4 if (kind == 3 and n >= 4) else 2
            pos = rng.randrange(0, n - width + 1)
            if rng.random() < 0.6:
                pos -= pos % width
            value = len(buf) - pos + rng.randint(-8, 8) if rng.random() < 0.15 else _field(rng, width)
            buf[pos:pos + width] = (value % (1 << (8 * width))).to_bytes(width, rng.choice(("big", "little")))
        elif kind == 5 and n:                                 # delete a run
            del buf[pos:pos + rng.choice((1, 2, 4, rng.randint(1, 64)))]
        elif kind == 6:                                       # insert random bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, rng.randint(1, 32)))))
        elif kind == 7 and n:                                 # duplicate a run elsewhere
            start = rng.randrange(n)
            chunk = buf[start:start + rng.randint(1, 128)]
            at = rng.randrange(n + 1)
            buf[at:at] = chunk
        elif kind == 8 and n:                                 # cut the tail
            del buf[rng.randrange(n):]
        elif kind == 9 and others:                            # splice another seed's tail in
            other = rng.choice(others)
            if other:
                cut = rng.randrange(len(other))
                buf[pos:] = other[cut:]
        if len(buf) > max_size:
            del buf[max_size:]
    return bytes(buf)
