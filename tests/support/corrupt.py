"""Byte-level damage, as a crash, a bad disk or a hostile sender leaves a file."""

import random


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random kind of damage: truncation, flipped bytes, a zeroed run, junk inserted, or junk only."""
    kind = rng.randrange(5)
    n = len(data)
    if kind == 0:
        return data[: rng.randrange(n + 1)]
    if kind == 1:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 2:
        start = rng.randrange(n + 1)
        return data[:start] + bytes(rng.randint(1, 64)) + data[start + 64 :]
    if kind == 3:
        start = rng.randrange(n + 1)
        return data[:start] + rng.randbytes(rng.randint(1, 64)) + data[start:]
    return rng.randbytes(rng.randint(0, 300))
