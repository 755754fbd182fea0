"""loraloom against the host's builtin LoRA handling, driven through a running WebUI's HTTP API.

    python benchmarks/host_api.py --url http://127.0.0.1:7860 --lora ink-style [--runs 5]

For each handler — loraloom (``loraloom_handle_tags`` on) and the builtin (off), switched through
``/sdapi/v1/options`` in the same run — it times rounds of five txt2img calls on the loaded
(full-size) checkpoint: ``base`` (no LoRA), ``first`` (the LoRA at 0.8), ``same`` (the same
again), ``change`` (weight 0.5), ``removal`` (no LoRA). Prints min and median of each phase per
handler and the ratios loraloom / builtin, and "same again" / base for each handler.
Targets (issue 10/11): hooks mode ≤ 0.5× the builtin on a change, ≤ 1.02× on "same again".
Without ``--url`` it prints how to run it and exits (``make bench`` has no WebUI to drive).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

PHASES = ("base", "first", "same", "change", "removal")


def call(url: str, path: str, payload: dict | None = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read() or b"null")


def txt2img(url: str, prompt: str, size: int, steps: int) -> float:
    payload = {"prompt": prompt, "steps": steps, "width": size, "height": size, "seed": 1, "sampler_name": "Euler"}
    start = time.perf_counter()
    call(url, "/sdapi/v1/txt2img", payload)
    return time.perf_counter() - start


def rounds(url: str, lora: str, runs: int, size: int, steps: int) -> dict[str, list[float]]:
    prompts = {
        "base": "a cat",
        "first": f"a cat <lora:{lora}:0.8>",
        "same": f"a cat <lora:{lora}:0.8>",
        "change": f"a cat <lora:{lora}:0.5>",
        "removal": "a cat",
    }
    txt2img(url, "a cat", size, steps)  # warm-up: model in memory, caches filled
    times: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for _ in range(runs):
        for phase in PHASES:
            times[phase].append(txt2img(url, prompts[phase], size, steps))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--lora", default="ink-style")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    if not args.url:
        print("host_api: no --url given; start a WebUI with --api and run this with --url http://127.0.0.1:7860")
        return
    url = args.url.rstrip("/")
    results = {}
    for handler, on in (("loraloom", True), ("builtin", False)):
        call(url, "/sdapi/v1/options", {"loraloom_handle_tags": on})
        results[handler] = rounds(url, args.lora, args.runs, args.size, args.steps)
    call(url, "/sdapi/v1/options", {"loraloom_handle_tags": True})
    print(f"{'phase':<8} {'loraloom min/median s':>22} {'builtin min/median s':>22} {'ratio (median)':>15}")
    for phase in PHASES:
        ours, theirs = results["loraloom"][phase], results["builtin"][phase]
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(
            f"{phase:<8} {min(ours):>10.3f} /{statistics.median(ours):>9.3f} "
            f"{min(theirs):>10.3f} /{statistics.median(theirs):>9.3f} {ratio:>14.2f}×"
        )
    for handler, times in results.items():
        same_vs_base = statistics.median(times["same"]) / statistics.median(times["base"])
        print(f"{handler}: 'same again' / no LoRA = {same_vs_base:.3f}×")


if __name__ == "__main__":
    main()
