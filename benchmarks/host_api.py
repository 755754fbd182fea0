"""loraloom against the host's builtin LoRA handling, driven through a running WebUI's HTTP API.

    python benchmarks/host_api.py --write-lora <webui>/models/Lora [--rank 32]
    python benchmarks/host_api.py --url http://127.0.0.1:7860 [--lora bench-r32] [--runs 5]

``--write-lora`` writes ``bench-r<rank>.safetensors``: a kohya LoRA the size of a typical
downloaded SD1.5 one — every attention, feed-forward and proj layer of the UNet (192) and every
attention and MLP layer of the text encoder (72), shapes from the SD1.5 configs. (The bundled
samples touch four layers each: too little for any handler to show a cost.)

``--url`` times rounds on the loaded checkpoint for each handler — loraloom
(``loraloom_handle_tags`` on) and the builtin (off), switched through ``/sdapi/v1/options``,
the two alternating round by round so that drift of the machine hits both alike. A round is one
warm-up call and eight txt2img calls: ``base`` (no LoRA), ``reworded`` (another prompt, no LoRA:
the text encoder runs again), ``first`` (the LoRA at 0.8), ``same`` (the same again), ``change``
(weight 0.5), ``change2`` (weight 0.8 again), ``removal`` (no LoRA), ``after`` (no LoRA again).
Prints min / median / max of every phase per handler, then the figures of the targets of issue
11, each per round (a ratio of two calls of the same round) and summarised as min / median / max:

- "same again" / no LoRA, per handler (target for loraloom's hooks: ≤ 1.02×), against ``base``
  and against the mean of ``base`` and ``after`` (no-LoRA calls before and after it: calls late
  in a round run slower here for every handler, which the first ratio counts against the LoRA);
- the LoRA's cost on a weight change — the mean of ``change`` and ``change2`` minus
  ``reworded`` (each of them encodes a new text; the host caches the conditioning of an
  unchanged prompt) — loraloom's against the builtin's (target ≤ 0.5×), and the whole calls'
  ratio beside it.
Without ``--url`` or ``--write-lora`` it prints how to run it and exits (``make bench`` has no
WebUI to drive).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path

PHASES = ("base", "reworded", "first", "same", "change", "change2", "removal", "after")
HANDLERS = ("loraloom", "builtin")
SD15_BLOCKS = {  # (UNet block path, channels): the SD1.5 transformer blocks, from its config
    **{f"down_blocks_{b}_attentions_{a}": c for b, c in enumerate((320, 640, 1280)) for a in range(2)},
    "mid_block_attentions_0": 1280,
    **{f"up_blocks_{b}_attentions_{a}": c for b, c in zip((1, 2, 3), (1280, 640, 320), strict=True) for a in range(3)},
}


def sd15_layers() -> dict[str, tuple[int, ...]]:
    """Kohya module name → weight shape for every layer a full SD1.5 LoRA trains."""
    layers: dict[str, tuple[int, ...]] = {}
    for block, c in SD15_BLOCKS.items():
        stem = f"lora_unet_{block}"
        layers[f"{stem}_proj_in"] = (c, c, 1, 1)
        layers[f"{stem}_proj_out"] = (c, c, 1, 1)
        inner = f"{stem}_transformer_blocks_0"
        for attention, context in (("attn1", c), ("attn2", 768)):
            layers[f"{inner}_{attention}_to_q"] = (c, c)
            layers[f"{inner}_{attention}_to_k"] = (c, context)
            layers[f"{inner}_{attention}_to_v"] = (c, context)
            layers[f"{inner}_{attention}_to_out_0"] = (c, c)
        layers[f"{inner}_ff_net_0_proj"] = (8 * c, c)
        layers[f"{inner}_ff_net_2"] = (c, 4 * c)
    for index in range(12):
        stem = f"lora_te_text_model_encoder_layers_{index}"
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            layers[f"{stem}_self_attn_{projection}"] = (768, 768)
        layers[f"{stem}_mlp_fc1"] = (3072, 768)
        layers[f"{stem}_mlp_fc2"] = (768, 3072)
    return layers


def write_lora(folder: Path, rank: int) -> Path:
    """Write ``bench-r<rank>.safetensors`` (fp16, small random factors) and say where."""
    import numpy as np
    from safetensors.numpy import save_file

    generator = np.random.default_rng(rank)
    tensors = {}
    for stem, shape in sd15_layers().items():
        out_features, in_features, *kernel = shape
        ones = [1] * len(kernel)
        down = generator.standard_normal((rank, in_features, *kernel), dtype=np.float32) / in_features**0.5
        up = generator.standard_normal((out_features, rank, *ones), dtype=np.float32) * 0.01
        tensors[f"{stem}.lora_down.weight"] = down.astype(np.float16)
        tensors[f"{stem}.lora_up.weight"] = up.astype(np.float16)
        tensors[f"{stem}.alpha"] = np.array(rank / 2, dtype=np.float16)
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(rank / 2),
        "ss_base_model_version": "sd_v1",
    }
    path = folder / f"bench-r{rank}.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


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


def one_round(url: str, lora: str, size: int, steps: int) -> dict[str, float]:
    prompts = {
        "base": "a cat",
        "reworded": "a cat, photo",
        "first": f"a cat <lora:{lora}:0.8>",
        "same": f"a cat <lora:{lora}:0.8>",
        "change": f"a cat <lora:{lora}:0.5>",
        "change2": f"a cat <lora:{lora}:0.8>",
        "removal": "a cat",
        "after": "a cat",
    }
    txt2img(url, "a cat", size, steps)  # warm-up after the switch: caches and conds filled
    return {phase: txt2img(url, prompts[phase], size, steps) for phase in PHASES}


def spread(values: list[float], unit: str = "×", digits: int = 3) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values))) + unit


def same_again(times: dict[str, float]) -> float:
    """The "same again" call against the two calls without LoRA around it in its round (``base`` before,
    ``after`` at the end; the same prompt, its conditioning cached like that of "same again"):
    calls late in a round run slower on this VM for every handler alike, which a ratio to
    ``base`` alone counts against the LoRA. (``removal`` is no reference: dropping the LoRA
    makes the host encode the prompt again.)"""
    return times["same"] / ((times["base"] + times["after"]) / 2)


def change_cost(times: dict[str, float]) -> float:
    """What a weight change costs beyond any prompt change: both encode a new text."""
    return (times["change"] + times["change2"]) / 2 - times["reworded"]


def report(results: dict[str, list[dict[str, float]]]) -> None:
    print(f"{'phase':<8}" + "".join(f"{handler + ' min/median/max s':>28}" for handler in results))
    for phase in PHASES:
        print(
            f"{phase:<8}" + "".join(f"{spread([r[phase] for r in rounds], '', 2):>28}" for rounds in results.values())
        )
    print("per round, min / median / max:")
    for handler, rounds in results.items():
        print(f"  {handler}: 'same again' / no LoRA = {spread([r['same'] / r['base'] for r in rounds])}")
        print(f"  {handler}: 'same again' / no LoRA before and after = {spread([same_again(r) for r in rounds])}")
    for handler, rounds in results.items():
        print(f"  {handler}: LoRA cost on a weight change = {spread([change_cost(r) for r in rounds], ' s')}")
    if set(results) != set(HANDLERS):
        return
    pairs = list(zip(results["loraloom"], results["builtin"], strict=True))
    ours = statistics.median(change_cost(a) for a, _ in pairs)
    theirs = statistics.median(change_cost(b) for _, b in pairs)
    print(f"  weight change, LoRA cost loraloom / builtin (medians) = {ours / theirs:.3f}×")
    whole = [(a["change"] + a["change2"]) / (b["change"] + b["change2"]) for a, b in pairs]
    print(f"  weight change, whole calls loraloom / builtin = {spread(whole)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--write-lora", type=Path, metavar="DIR")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--lora", default="bench-r32")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument(
        "--handlers",
        nargs="+",
        choices=HANDLERS,
        default=list(HANDLERS),
        help="time only these (e.g. loraloom alone at a large size)",
    )
    args = parser.parse_args()
    if args.write_lora:
        print("wrote", write_lora(args.write_lora, args.rank))
    if not args.url:
        if not args.write_lora:
            print(
                "host_api: no --url given; write a LoRA with --write-lora <webui>/models/Lora, start the WebUI "
                "with --api and run this with --url http://127.0.0.1:7860"
            )
        return
    url = args.url.rstrip("/")
    try:
        call(url, "/sdapi/v1/refresh-loras", {})  # the builtin's list; loraloom re-scans on an unknown name
    except OSError as error:
        print("note: /sdapi/v1/refresh-loras:", error)
    handlers = tuple(h for h in HANDLERS if h in args.handlers)
    results: dict[str, list[dict[str, float]]] = {handler: [] for handler in handlers}
    for index in range(args.runs):
        order = handlers if index % 2 == 0 else handlers[::-1]
        for handler in order:
            call(url, "/sdapi/v1/options", {"loraloom_handle_tags": handler == "loraloom"})
            results[handler].append(one_round(url, args.lora, args.size, args.steps))
    call(url, "/sdapi/v1/options", {"loraloom_handle_tags": True})
    report(results)


if __name__ == "__main__":
    main()
