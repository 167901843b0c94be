"""Exercise checks of Notebook 05, positional information."""
import torch

from helpers.exercises._common import _diagnose


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
