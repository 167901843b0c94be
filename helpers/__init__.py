"""Reusable pieces of the Transformer course, one concept per module.

Shapes use fixed letters everywhere in this package:

    B batch        T query length    S key/value length   C model width
    H heads        D head width      P patches            V vocabulary

The mask convention, stated once for the whole package:

    A mask is a boolean tensor that broadcasts to the scores, shape (..., T, S).
    True means "this query may attend to this key"; False means "blocked".

This is the convention of ``torch.nn.functional.scaled_dot_product_attention``.
``torch.nn.MultiheadAttention`` uses the opposite one (True means blocked);
the masks module converts at that boundary.
"""
from helpers.attention import SelfAttention, scaled_dot_product_attention
from helpers.reproducibility import expect, seed_everything
from helpers.training import History, accuracy, fit
from helpers.visualisation import plot_attention, plot_history

__all__ = [
    "History",
    "SelfAttention",
    "accuracy",
    "expect",
    "fit",
    "plot_attention",
    "plot_history",
    "scaled_dot_product_attention",
    "seed_everything",
]
