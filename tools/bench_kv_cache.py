"""Time generation with and without the key/value cache (notebook 10, section 6).

Greedy decoding of 256 new tokens from a 1-token prompt with ``helpers.generation.generate``,
an untrained GPT (speed does not depend on training), batch 1. Without the cache each step
reruns the model on the whole sequence so far; with it, each step runs ``GPT.step`` on the
one new token. Each timing is the best of ``--repeats`` runs after a warm-up, so that a
busy machine inflates it as little as possible; the tokens are checked to be identical.

    .venv/bin/python tools/bench_kv_cache.py               # 2 threads, the course's sizes
    .venv/bin/python tools/bench_kv_cache.py --threads 1 --repeats 7
"""
import argparse
import time

import torch

from helpers.generation import generate
from helpers.gpt import GPT, GPTConfig

N_NEW = 256
# (name, d_model, num_heads, num_layers): notebook 10's GPT, then a wider and deeper one.
SIZES = [("notebook 10", 64, 4, 2), ("wider, deeper", 128, 4, 4)]


def best_time(run, repeats):
    """Best wall-clock seconds of run() over ``repeats`` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per case, best kept (5)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), greedy, {N_NEW} new tokens, "
          f"batch 1, best of {args.repeats}\n")
    print("| GPT (C, H, N) | parameters | no cache | with cache | speed-up | identical tokens |")
    print("|---|---|---|---|---|---|")
    for name, C, H, N in SIZES:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=27, block_size=N_NEW + 8, d_model=C, num_heads=H,
                              num_layers=N, d_ff=4 * C)).eval()
        prompt = torch.zeros(1, 1, dtype=torch.long)
        tokens = {}

        def run(use_cache):
            tokens[use_cache] = generate(model, prompt, N_NEW, temperature=0.0, use_cache=use_cache)

        slow = best_time(lambda: run(False), args.repeats)
        fast = best_time(lambda: run(True), args.repeats)
        n_params = sum(p.numel() for p in model.parameters())
        same = torch.equal(tokens[False], tokens[True])
        print(f"| {name} ({C}, {H}, {N}) | {n_params:,} | {slow * 1000:.0f} ms | "
              f"{fast * 1000:.0f} ms | {slow / fast:.1f}x | {same} |")


if __name__ == "__main__":
    main()
