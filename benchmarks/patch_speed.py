"""Patching speed and memory on a full-size SD1.5 UNet (random init), measured in one process.

Kohya LoRAs of rank 32 and 128 over every attention, feed-forward and proj layer (192
modules). Prints, each on its own line:
  (a) our load + merge vs diffusers ``load_lora_weights`` + ``fuse_lora`` (target ≥ 2×), and ours
      against the bound of the bare arithmetic (ΔW = up·down for every module, and the adds);
  (b) our ``remove()`` vs ``unfuse_lora`` (target ≥ 5×), and whether each restores exactly;
  (c) per-step UNet time at 64×64 latents (CFG batch of 2): hooks and merged vs no LoRA
      (target for hooks: ≤ 10 % over no LoRA at rank 32);
  (d) peak extra memory of each mode (RSS).
Run: ``python benchmarks/patch_speed.py`` (a few minutes on 2 CPU cores).
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "extension"), str(ROOT)]

import loraloom  # noqa: E402
import loraloom.patching  # noqa: E402
from tests.fixtures.models import patchable  # noqa: E402
from tests.fixtures.pipelines import offline_tokenizer  # noqa: E402

TARGETS = ("attn1", "attn2", "ff.net", "proj_in", "proj_out")


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sd15_unet():  # type: ignore[no-untyped-def]
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8).eval()


def write_lora(unet, rank: int, folder: Path) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(rank)
    tensors = {}
    modules = [(n, m) for n, m in patchable(unet) if any(t in n for t in TARGETS)]
    for name, module in modules:
        stem = "lora_unet_" + name.replace(".", "_")
        out_f, in_f = module.weight.shape[:2]
        kernel = tuple(module.weight.shape[2:])
        tensors[f"{stem}.lora_down.weight"] = (torch.randn(rank, in_f, *kernel, generator=generator) * 0.01).half()
        tensors[f"{stem}.lora_up.weight"] = (
            torch.randn(out_f, rank, *(1,) * len(kernel), generator=generator) * 0.01
        ).half()
        tensors[f"{stem}.alpha"] = torch.tensor(rank / 2).half()
    path = folder / f"rank{rank}.safetensors"
    save_file(tensors, str(path))
    return str(path), len(modules)


def arithmetic_bound(unet, path: str) -> float:  # type: ignore[no-untyped-def]
    """ΔW = up·down (fp32) and W += ΔW for every module: what any merge must at least do."""
    from safetensors.torch import load_file

    tensors = {k: v.float() for k, v in load_file(path).items()}
    modules = dict(unet.named_modules())
    start = time.perf_counter()
    with torch.no_grad():
        for key in [k for k in tensors if k.endswith("lora_down.weight")]:
            stem = key[: -len(".lora_down.weight")]
            down, up = tensors[key].flatten(1), tensors[f"{stem}.lora_up.weight"].flatten(1)
            delta = up @ down
            target = _module_for(modules, stem)
            target.weight.view(delta.shape).add_(delta)
    return time.perf_counter() - start


_INDEX: dict[str, str] = {}


def _module_for(modules, stem):  # type: ignore[no-untyped-def]
    if not _INDEX:
        _INDEX.update({"lora_unet_" + n.replace(".", "_"): n for n in modules})
    return modules[_INDEX[stem]]


def diffusers_pipeline(unet, folder: Path):  # type: ignore[no-untyped-def]
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=80,
        hidden_size=768,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        max_position_embeddings=77,
    )
    vae = AutoencoderKL(
        block_out_channels=(8,),
        latent_channels=4,
        norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(config),
        tokenizer=offline_tokenizer(folder / "tok"),
        unet=unet,
        scheduler=DDIMScheduler(clip_sample=False),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def weights_of(unet) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {name: p.detach().clone() for name, p in unet.named_parameters()}


def max_difference(unet, original) -> float:  # type: ignore[no-untyped-def]
    return max(float((p.detach() - original[name]).abs().max()) for name, p in unet.named_parameters())


def restore(unet, original) -> None:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        for name, p in unet.named_parameters():
            p.copy_(original[name])


def one_step(unet) -> float:  # type: ignore[no-untyped-def]
    sample = torch.randn(2, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    context = torch.randn(2, 77, 768, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    with torch.no_grad():
        unet(sample, torch.tensor([500, 500]), encoder_hidden_states=context)
    return time.perf_counter() - start


def step_times(unet, path: str, rounds: int = 4) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median step time per configuration, measured interleaved so machine noise hits all alike."""
    times: dict[str, list[float]] = {"none": [], "hooks": [], "merge": []}
    network = loraloom.load_network(path)
    one_step(unet)  # warm-up
    for _ in range(rounds):
        times["none"].append(one_step(unet))
        for mode in ("hooks", "merge"):
            with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode=mode):
                one_step(unet)  # the first forward after applying pays one-time casts
                times[mode].append(one_step(unet))
    return {mode: sorted(values)[len(values) // 2] for mode, values in times.items()}


def main() -> None:
    torch.set_grad_enabled(False)
    folder = Path(tempfile.mkdtemp())
    unet = sd15_unet()
    original = weights_of(unet)
    for rank in (32, 128):
        path, count = write_lora(unet, rank, folder)
        print(f"== rank {rank}: {count} modules")
        bound = arithmetic_bound(unet, path)
        restore(unet, original)  # the bound's adds are not undone exactly: start from W0 again
        gc.collect()
        before = rss()
        start = time.perf_counter()
        patch = loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode="merge")
        ours_merge = time.perf_counter() - start
        merge_memory = rss() - before
        start = time.perf_counter()
        patch.remove()
        ours_remove = time.perf_counter() - start
        pool = loraloom.patching.BufferPool()  # what a host keeps per model between generations
        loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode="merge", pool=pool).remove()
        start = time.perf_counter()
        warm = loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode="merge", pool=pool)
        ours_warm = time.perf_counter() - start
        start = time.perf_counter()
        warm.remove()
        ours_warm_remove = time.perf_counter() - start
        pool.clear()
        exact = all(torch.equal(p.detach(), original[name]) for name, p in unet.named_parameters())
        pipeline = diffusers_pipeline(unet, folder)
        start = time.perf_counter()
        pipeline.load_lora_weights(path)
        pipeline.fuse_lora(lora_scale=1.0)
        theirs_merge = time.perf_counter() - start
        start = time.perf_counter()
        pipeline.unfuse_lora()
        theirs_remove = time.perf_counter() - start
        pipeline.unload_lora_weights()
        theirs_error = max_difference(unet, original)
        restore(unet, original)
        print(f"(a) load+merge: ours {ours_merge:.2f} s, diffusers {theirs_merge:.2f} s", end=" ")
        print(f"-> {theirs_merge / ours_merge:.1f}x faster (target >= 2x)")
        print(f"(a) with a warm buffer pool (every later generation): ours {ours_warm:.2f} s", end=" ")
        print(f"-> {theirs_merge / ours_warm:.1f}x faster than diffusers")
        print(f"(a) ours vs the bare arithmetic ({bound:.2f} s):", end=" ")
        print(f"cold {ours_merge / bound:.2f}x, warm {ours_warm / bound:.2f}x the bound")
        print(f"(b) remove: ours {ours_remove * 1000:.1f} ms, unfuse_lora {theirs_remove * 1000:.0f} ms", end=" ")
        print(f"-> {theirs_remove / ours_remove:.0f}x faster (target >= 5x)")
        print(f"(b) remove keeping the buffers in the host's pool: ours {ours_warm_remove * 1000:.1f} ms", end=" ")
        print(f"-> {theirs_remove / ours_warm_remove:.0f}x faster")
        print(f"(b) exact restore: ours {exact}; diffusers max |W - W0| = {theirs_error:.3g}")
        if rank == 32:
            gc.collect()
            before = rss()
            with loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode="hooks"):
                hooks_memory = rss() - before
            steps = step_times(unet, path)
            base, hooks, merged = steps["none"], steps["hooks"], steps["merge"]
            print(f"(c) UNet step at 64x64 latents: no LoRA {base:.2f} s, merged {merged:.2f} s", end=" ")
            print(f"({(merged / base - 1) * 100:+.1f} %), hooks {hooks:.2f} s", end=" ")
            print(f"({(hooks / base - 1) * 100:+.1f} %, target <= 10 %)")
            print(f"(d) extra memory: hooks {hooks_memory / 1e6:.0f} MB, merge {merge_memory / 1e6:.0f} MB", end=" ")
            print("(merged copies beside the untouched originals, for an exact O(1) restore)")


if __name__ == "__main__":
    main()
