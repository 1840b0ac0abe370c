"""Tokens/s of the embedded model: weights in llama.cpp's extra (repacked) buffers vs kept
out of them (the default, since the AMX variant of those buffers segfaults on some CPUs).

Prompt (prefill) and generation speed are measured separately, median of ``--runs`` runs,
both variants in this process, alternating, and printed with their ratio.

    python benchmarks/llama_runtime.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from langgraph_collab.roles.local import embedded_model_path, runtime_info

PROMPT = " ".join(
    f"Step {i}: the assistant asks the user a clarifying question about the task."
    for i in range(40)
)


def measure(llama, *, generate: int) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) for one fresh completion."""
    llama.reset()
    n_prompt = len(llama.tokenize(PROMPT.encode()))
    start = time.perf_counter()
    llama.create_completion(PROMPT, max_tokens=1, temperature=0.0)
    prefill = time.perf_counter() - start
    llama.reset()
    start = time.perf_counter()
    out = llama.create_completion(PROMPT, max_tokens=generate, temperature=0.0, stop=[])
    total = time.perf_counter() - start
    n_out = out["usage"]["completion_tokens"]
    return n_prompt / prefill, max(n_out - 1, 1) / max(total - prefill, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--generate", type=int, default=64)
    args = parser.parse_args()

    from langgraph_collab.roles.local import ChatLlamaCpp

    info = runtime_info()
    print(f"llama.cpp: {info['system_info']}")
    variants = {
        "repacked buffers": ChatLlamaCpp(model_path=str(embedded_model_path()), weight_repack=True),
        "plain buffers (default)": ChatLlamaCpp(model_path=str(embedded_model_path())),
    }
    llamas = {name: model._client() for name, model in variants.items()}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in llamas}
    for _ in range(args.runs):
        for name, llama in llamas.items():
            results[name].append(measure(llama, generate=args.generate))
    medians = {
        name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for name, runs in results.items()
    }
    for name, (prompt, gen) in medians.items():
        print(f"{name:<24} prompt {prompt:8.1f} tok/s   generation {gen:7.1f} tok/s")
    (base_p, base_g), (ours_p, ours_g) = medians.values()
    print(f"default / repacked: prompt {ours_p / base_p:.2f}x, generation {ours_g / base_g:.2f}x")


if __name__ == "__main__":
    main()
