"""Exercise checks of Notebook 05, positional information."""
import torch

from helpers.exercises._common import Check, _diagnose
from helpers.yours import builds


def check_sinusoidal(encoding):
    """Exercise: ``encoding(T, C)`` -> (T, C), PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i)."""
    from helpers.positional import sinusoidal_encoding

    T, C = 12, 8
    right = sinusoidal_encoding(T, C)
    p = torch.arange(T, dtype=torch.float32)[:, None]

    def table(omega, first=torch.sin, second=torch.cos, positions=p):
        pe = torch.empty(T, C)
        pe[:, 0::2], pe[:, 1::2] = first(positions * omega), second(positions * omega)
        return pe

    i = torch.arange(0, C, 2, dtype=torch.float32)
    mistakes = {
        "sin and cos are swapped: even features take sin, odd ones cos.":
            table(10_000 ** (-i / C), torch.cos, torch.sin),
        "The exponent is 2i/C, not i/C: feature pair i uses ω_i = 10000^(-2i/C).":
            table(10_000 ** (-(i / 2) / C)),
        "Positions start at 0, not 1.": table(10_000 ** (-i / C), positions=p + 1),
        "You used 10000^(+2i/C): the frequencies must fall with i (a minus sign).":
            table(10_000 ** (i / C)),
    }
    return _diagnose(encoding(T, C), right, mistakes, "Matches the paper's sinusoidal encoding.")


def check_alibi(bias):
    """Exercise: ``bias(T, slope)`` -> (T, T) with -slope × |t - s|."""
    T, slope = 5, 0.25
    d = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).float()
    mistakes = {
        "The sign is wrong: far keys must get a *penalty*, -slope × distance.": slope * d.abs(),
        "Use the distance |t - s|: without the absolute value, keys on one side get a bonus.":
            -slope * d,
        "You forgot the slope.": -d.abs(),
    }
    return _diagnose(bias(T, slope), -slope * d.abs(), mistakes,
                     "Each key loses slope × its distance from the query.")


def check_rope_frequencies(frequencies):
    """Exercise: ``frequencies(D)`` -> (D/2,): the angle per position of feature pair i,
    ω_i = 10000^(-2i/D), i = 0 .. D/2 - 1."""
    from helpers.positional import _frequencies

    D = 8
    i = torch.arange(D // 2, dtype=torch.float32)
    mistakes = {
        "The exponent is -2i/D, not -i/D: pair i holds features 2i and 2i + 1.":
            10_000 ** (-i / D),
        "The frequencies must fall with i: 10000^(-2i/D), with a minus sign.":
            10_000 ** (2 * i / D),
        "One frequency per feature *pair*: D/2 of them, i = 0 .. D/2 - 1.":
            10_000 ** (-torch.arange(D, dtype=torch.float32) / D),
    }
    return _diagnose(frequencies(D), _frequencies(D, 10_000.0), mistakes,
                     "Pair 0 turns one radian per position, the last pair almost not at all.")


def _rotate(x, angles, pairs="interleaved", sign=1.0):
    """x (..., T, D) with each feature pair turned by ``sign`` × angles (T, D/2): the pairs
    are (2i, 2i + 1) ("interleaved", the course's) or (i, i + D/2) ("halves")."""
    D = x.shape[-1]
    cos, sin = angles.cos(), sign * angles.sin()
    if pairs == "interleaved":
        first, second = x[..., 0::2], x[..., 1::2]
    else:
        first, second = x[..., :D // 2], x[..., D // 2:]
    a, b = first * cos - second * sin, first * sin + second * cos
    if pairs == "interleaved":
        return torch.stack([a, b], dim=-1).flatten(-2)
    return torch.cat([a, b], dim=-1)


@builds("rotary", "helpers.positional:rotary")
def check_rotary(rotate):
    """Exercise: ``rotate(x, offset=0)``: x (..., T, D) -> the same shape, each feature pair
    (x[2i], x[2i+1]) of the token at position p = offset + t turned by the angle p·ω_i,
    ω_i = 10000^(-2i/D). Compared with ``helpers.positional.rotary`` on (B, H, T, D)
    queries, with and without an offset; the usual mistakes are named."""
    from helpers.positional import rotary

    if not callable(rotate):
        return Check(False, f"Pass your function itself, got {type(rotate).__name__}.")
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 3, 5, 8, generator=g)  # (B, H, T, D)
    T, D = x.shape[-2], x.shape[-1]
    i = torch.arange(0, D, 2, dtype=torch.float32)
    for offset in [0, 7]:
        p = torch.arange(offset, offset + T, dtype=torch.float32)[:, None]  # (T, 1)
        angles = p * 10_000 ** (-i / D)  # (T, D/2)
        mistakes = {
            "You paired feature i with feature i + D/2 (the two halves, as Hugging Face's "
            "Llama stores them); the course pairs neighbours: (x[2i], x[2i+1]), "
            "x[..., 0::2] with x[..., 1::2].": _rotate(x, angles, pairs="halves"),
            "The exponent is -2i/D, not -i/D: pair i holds features 2i and 2i + 1.":
                _rotate(x, p * 10_000 ** (-(i / 2) / D)),
            "The frequencies must fall with i: 10000^(-2i/D), with a minus sign.":
                _rotate(x, p * 10_000 ** (i / D)),
            "You rotated the wrong way (by -p·ω_i): the first of each pair becomes "
            "x0·cos - x1·sin, the second x0·sin + x1·cos.": _rotate(x, angles, sign=-1.0),
        }
        if offset:
            mistakes["The offset is ignored: the first token sits at position offset, "
                     "so positions run offset, offset + 1, ..."] = rotary(x)
        original = x.clone()
        try:
            got = rotate(original, offset=offset) if offset else rotate(original)
        except Exception as error:  # the learner's code: any error is theirs to see
            return Check(False, f"Calling your function{f' with offset={offset}' if offset else ''}"
                                f" failed: {type(error).__name__}: {error}")
        if not torch.equal(original, x):
            return Check(False, "Your function changed its input in place: return a new "
                                "tensor (torch.empty_like(x), or torch.stack), so that the "
                                "unrotated queries and keys stay as they were.")
        result = _diagnose(got, rotary(x, offset=offset), mistakes, "")
        if not result.passed:
            where = f"With offset={offset}: " if offset else ""
            return Check(False, where + result.message)
    return Check(True, "Every pair turned by p·ω_i, offset included: your rotary matches the "
                       "course's on (B, H, T, D) queries.")


def check_rope_offset(offset_only):
    """Exercise: ``offset_only(rotate)`` -> bool: True when the scores of a query rotated to
    position t and a key rotated to position s depend on t - s only. It must say True for
    the course's rotary and False for rotations that leak the positions themselves."""
    from helpers.positional import rotary

    def quadratic(x, offset=0):
        """Turns pair i by p²·ω_i: the same angle for q and k at one position, but the
        difference of two angles depends on where they are."""
        T, D = x.shape[-2], x.shape[-1]
        p = torch.arange(offset, offset + T, dtype=torch.float32)[:, None]
        return _rotate(x, p ** 2 * 10_000 ** (-torch.arange(0, D, 2) / D))

    def growing(x, offset=0):
        """The course's rotation, then scaled by 1 + p/10: every score grows with m and n."""
        T = x.shape[-2]
        p = torch.arange(offset, offset + T, dtype=torch.float32)[:, None]
        return rotary(x, offset=offset) * (1 + p / 10)

    def run(rotate):
        with torch.random.fork_rng():  # the learner's random stream is left as it was
            torch.manual_seed(9)
            return offset_only(rotate)

    try:
        verdicts = {name: run(rotate) for name, rotate in
                    [("course", rotary), ("quadratic", quadratic), ("growing", growing)]}
    except Exception as error:  # the learner's code: any error is theirs to see
        return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")
    if any(v is None for v in verdicts.values()):
        return Check(False, "Not done yet: your function returned None. Return True or False.")
    verdicts = {name: bool(v) for name, v in verdicts.items()}
    if not verdicts["course"]:
        return Check(False, "Your test says the course's rotary fails, and it does not: rotate "
                            "both q and k (the same vectors at every position), and compare "
                            "scores with a tolerance (torch.allclose), not with ==.")
    if verdicts["quadratic"]:
        return Check(False, "Your test passes a rotation by p²·ω_i, whose scores depend on the "
                            "positions: at offset 0 they agree (q and k turn alike), at other "
                            "offsets they do not. Compare the scores along every diagonal "
                            "m - n = const, not only m = n.")
    if verdicts["growing"]:
        return Check(False, "Your test passes a rotation that also grows the vectors with "
                            "the position: compare the scores themselves along each diagonal, "
                            "not normalised ones (cosines), their signs or their ordering.")
    return Check(True, "Your test tells an offset-only rotation from two that leak the "
                       "positions: True for RoPE, False for p²·ω and for growing vectors.")
