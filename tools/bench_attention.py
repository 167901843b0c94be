"""Time helpers.MultiHeadAttention against torch.nn.MultiheadAttention (issue 14).

One thread, forward + backward, a causal mask, the best of 5 timings after a warm-up.
Each timing is the mean of enough repetitions to last about 0.2 s. Prints a markdown
table; "ours (fast)" is need_weights=False (the fused kernel), "ours (explicit)" the
lesson's path that keeps the weights.

    .venv/bin/python tools/bench_attention.py
"""
import time

import torch
from torch import nn

from helpers.masks import causal_mask, to_pytorch
from helpers.multihead import MultiHeadAttention, copy_attention_to_torch

SIZES = [(32, 16, 32, 4), (32, 64, 64, 4), (8, 256, 128, 8)]  # (B, T, C, H)


def best_time(step, repeats=5, budget=0.2):
    """Best mean seconds per call of step() over ``repeats`` timings, after a warm-up."""
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < budget or n < 3:  # warm-up; count calls per timing
        step()
        n += 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            step()
        times.append((time.perf_counter() - start) / n)
    return min(times)


def forward_backward(module, *inputs, **kwargs):
    """One training step's attention work: the forward pass, then the backward pass."""
    def step():
        module(*inputs, **kwargs)[0].sum().backward()
        module.zero_grad(set_to_none=True)
        inputs[0].grad = None
    return step


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, 1 thread, forward + backward, causal mask, best of 5\n")
    print("| (B, T, C, H) | nn.MultiheadAttention | ours (fast) | ratio | ours (explicit) | ratio |")
    print("|---|---|---|---|---|---|")
    for B, T, C, H in SIZES:
        ours = MultiHeadAttention(d_model=C, num_heads=H)
        theirs = copy_attention_to_torch(ours, nn.MultiheadAttention(C, H, batch_first=True))
        x = torch.randn(B, T, C, requires_grad=True)
        mask = causal_mask(T)
        t_theirs = best_time(forward_backward(theirs, x, x, x, attn_mask=to_pytorch(mask, "mha"),
                                              need_weights=False))
        t_fast = best_time(forward_backward(ours, x, mask=mask, need_weights=False))
        t_explicit = best_time(forward_backward(ours, x, mask=mask, need_weights=True))
        print(f"| {(B, T, C, H)} | {ms(t_theirs)} | {ms(t_fast)} | {t_fast / t_theirs:.2f}x "
              f"| {ms(t_explicit)} | {t_explicit / t_theirs:.2f}x |")


def ms(seconds):
    return f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
