"""``loraloom samples DIR``: a small, real-format sample library for the standalone gallery.

Each file is a real kohya-style safetensors LoRA (LoRA, LoCon, LoHa, LoKr) with the module
names and shapes of SD1, SD2 or SDXL, training metadata, and sidecars as people have them:
A1111's ``.json``, a Civitai Helper ``.civitai.info``, a trigger-word ``.txt`` and generated
preview images. torch is not needed: tensors are written with numpy.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# (kohya stem, in features, out features, kernel) per family: real SD module names and shapes.
_SD1 = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320, 1),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v", 768, 320, 1),
    ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q", 1280, 1280, 1),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, 1),
]
_SD1_CONV = [("lora_unet_down_blocks_0_resnets_0_conv1", 320, 320, 3)]
_SD2 = [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 1024, 320, 1),
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v", 1024, 320, 1),
    ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 1024, 1024, 1),
]
_SDXL = [
    ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 2048, 640, 1),
    ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_v", 2048, 640, 1),
    ("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, 1),
    ("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280, 1280, 1),
]


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str
    modules: list[tuple[str, int, int, int]]
    base_model: str
    colour: tuple[int, int, int]
    tags: dict[str, int] = field(default_factory=dict)
    user: dict[str, Any] | None = None
    civitai: dict[str, Any] | None = None
    txt: str | None = None
    preview: bool = True


SAMPLES = [
    Sample(
        "ink-style",
        "lora",
        _SD1,
        "sd_v1",
        (40, 70, 140),
        {"ink wash": 40, "monochrome": 31, "brush strokes": 12, "1girl": 9},
        user={"activation text": "ink wash, monochrome", "preferred weight": 0.8, "notes": "Try 0.6–0.9."},
    ),
    Sample(
        "detail-slider",
        "loha",
        _SD1,
        "sd_v1",
        (150, 110, 30),
        {"detailed": 20, "simple background": 8},
        user={
            "description": "A slider LoRA: negative = simpler, positive = more detail.",
            "weight min": -8,
            "weight max": 8,
        },
    ),
    Sample("styles/pixel-art", "locon", _SD1 + _SD1_CONV, "sd_v1", (60, 150, 80), {"pixel art": 50, "8-bit": 22}),
    Sample(
        "styles/watercolour",
        "lora",
        _SD2,
        "sd_v2",
        (170, 70, 110),
        {"watercolour": 33, "paper texture": 14},
        user={"activation text": "watercolour painting", "sd version": "SD2"},
    ),
    Sample(
        "characters/forest-spirit",
        "lora",
        _SDXL,
        "sdxl_base_v1-0",
        (30, 120, 110),
        {"forest spirit": 60, "glowing eyes": 25, "moss": 10},
        civitai={
            "id": 1001,
            "modelId": 501,
            "baseModel": "SDXL 1.0",
            "trainedWords": ["forest spirit, glowing eyes"],
            "model": {"name": "Forest Spirit", "tags": ["character", "fantasy"]},
        },
    ),
    Sample(
        "characters/robot-pilot",
        "lokr",
        _SDXL,
        "sdxl_base_v1-0",
        (110, 110, 120),
        {"robot pilot": 41, "mecha": 18},
        txt="robot pilot, mecha cockpit",
        preview=False,
    ),
]


def write_samples(folder: str) -> list[str]:
    """Write every sample under ``folder`` (overwriting earlier samples); returns the LoRA paths."""
    paths = []
    for index, sample in enumerate(SAMPLES):
        base = os.path.join(folder, *sample.name.split("/"))
        os.makedirs(os.path.dirname(base), exist_ok=True)
        rng = np.random.default_rng(index + 1)
        tensors = {}
        for stem, features_in, features_out, kernel in sample.modules:
            tensors.update(_module(sample.kind, stem, features_in, features_out, kernel, rng))
        _save(tensors, _metadata(sample), base + ".safetensors")
        paths.append(base + ".safetensors")
        if sample.user is not None:
            _write_text(base + ".json", json.dumps(sample.user, indent=4))
        if sample.civitai is not None:
            _write_text(base + ".civitai.info", json.dumps(sample.civitai, indent=2))
        if sample.txt is not None:
            _write_text(base + ".txt", sample.txt)
        if sample.preview:
            with open(base + ".preview.png", "wb") as handle:
                handle.write(preview_png(sample.colour, index))
    return paths


def _module(
    kind: str, stem: str, n_in: int, n_out: int, kernel: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    def tensor(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float16)

    rank = 4
    alpha = {f"{stem}.alpha": np.array(float(rank), dtype=np.float16)}
    if kind == "loha":
        return alpha | {
            f"{stem}.hada_w1_a": tensor(n_out, rank),
            f"{stem}.hada_w1_b": tensor(rank, n_in),
            f"{stem}.hada_w2_a": tensor(n_out, rank),
            f"{stem}.hada_w2_b": tensor(rank, n_in),
        }
    if kind == "lokr":
        return alpha | {f"{stem}.lokr_w1": tensor(8, 8), f"{stem}.lokr_w2": tensor(n_out // 8, n_in // 8)}
    down = tensor(rank, n_in, kernel, kernel) if kernel > 1 else tensor(rank, n_in)
    up = tensor(n_out, rank, 1, 1) if kernel > 1 else tensor(n_out, rank)
    return alpha | {f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up}


def _metadata(sample: Sample) -> dict[str, str]:
    module = {"lora": "networks.lora", "locon": "lycoris.kohya", "loha": "lycoris.kohya", "lokr": "lycoris.kohya"}
    return {
        "ss_output_name": sample.name.rsplit("/", 1)[-1],
        "ss_base_model_version": sample.base_model,
        "ss_network_module": module[sample.kind],
        "ss_network_dim": "4",
        "ss_network_alpha": "4",
        "ss_tag_frequency": json.dumps({"1_train": sample.tags}),
        "ss_num_train_images": str(sum(sample.tags.values())),
        "loraloom_sample": "true",
    }


def _save(tensors: dict[str, np.ndarray], metadata: dict[str, str], path: str) -> None:
    from safetensors.numpy import save_file

    temporary = path + ".tmp"
    save_file(tensors, temporary, metadata=metadata)
    os.replace(temporary, path)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def preview_png(colour: tuple[int, int, int], seed: int, size: int = 384) -> bytes:
    """A soft gradient with a few circles: distinct per sample, written without any image library."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.array(colour, dtype=np.float32)
    image = base * (0.55 + 0.45 * (1 - y))[..., None] + np.array([255, 255, 255]) * (0.25 * x)[..., None]
    for _ in range(5):
        cx, cy, radius = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.06, 0.2)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        image[inside] = image[inside] * 0.4 + 255 * 0.6
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    return _png(pixels)


def _png(pixels: np.ndarray) -> bytes:
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
