"""What a file's own metadata says about its training: kohya ``ss_*``, ``modelspec.*``, AddNet.

All header values are strings; JSON-valued ones (``ss_tag_frequency``, ``ss_datasets``) may be
invalid, deeply nested or hold ``NaN``/``1e400`` counts in the wild: they are read as untrusted
JSON, bad counts are skipped, and what is wrong is reported, never raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .untrusted import UntrustedJSON, display, loads

MAX_COUNT = 10**12
"""A caption tag cannot appear more often than this in a training set: larger counts are refused."""

# Header keys that can hold megabytes (base64 images) and are never worth keeping in a cache.
BULKY_KEYS = ("ssmd_cover_images", "modelspec.thumbnail")

SUMMARY_KEYS = {
    "ss_output_name": "output_name",
    "ss_sd_model_name": "base_model",
    "ss_base_model_version": "base_model_version",
    "ss_network_module": "network_module",
    "ss_network_dim": "network_dim",
    "ss_network_alpha": "network_alpha",
    "ss_network_args": "network_args",
    "ss_resolution": "resolution",
    "ss_num_epochs": "epochs",
    "ss_epoch": "epoch",
    "ss_steps": "steps",
    "ss_max_train_steps": "max_train_steps",
    "ss_num_train_images": "train_images",
    "ss_learning_rate": "learning_rate",
    "ss_clip_skip": "clip_skip",
    "ss_training_comment": "training_comment",
    "ss_training_finished_at": "trained_at",
    "modelspec.title": "title",
    "modelspec.architecture": "architecture",
    "modelspec.author": "author",
    "modelspec.description": "description",
    "modelspec.resolution": "resolution",
    "modelspec.trigger_phrase": "trigger_phrase",
    "modelspec.usage_hint": "usage_hint",
    "modelspec.license": "license",
    "ssmd_display_name": "title",
    "ssmd_author": "author",
    "ssmd_description": "description",
    "ssmd_keywords": "keywords",
}


def slim_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The header metadata without bulky embedded images (their size is kept instead)."""
    slim = {}
    for key, value in metadata.items():
        slim[key] = f"<{len(value):,} bytes omitted>" if key in BULKY_KEYS else value
    return slim


def training_summary(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The handful of training facts people look for, under readable names."""
    summary: dict[str, Any] = {}
    for key, name in SUMMARY_KEYS.items():
        value = metadata.get(key)
        if value not in (None, "", "None") and name not in summary:
            summary[name] = value
    return summary


def tag_frequency(metadata: Mapping[str, str]) -> tuple[Counter[str], list[str]]:
    """Training caption tags by count, from ``ss_tag_frequency`` (or ``ss_datasets``), and problems."""
    counts: Counter[str] = Counter()
    problems = []
    raw = metadata.get("ss_tag_frequency")
    folders: list[Any] = []
    if raw:
        try:
            parsed = loads(raw)
            folders = list(parsed.values()) if isinstance(parsed, dict) else []
        except UntrustedJSON as error:
            problems.append(f"metadata ss_tag_frequency {error}; no suggested words from it")
    if not folders and metadata.get("ss_datasets"):
        try:
            datasets = loads(metadata["ss_datasets"])
            for dataset in datasets if isinstance(datasets, list) else []:
                frequency = dataset.get("tag_frequency") if isinstance(dataset, dict) else None
                folders.extend(frequency.values() if isinstance(frequency, dict) else [])
        except UntrustedJSON as error:
            problems.append(f"metadata ss_datasets {error}; no suggested words from it")
    skipped = 0
    for folder in folders:
        if not isinstance(folder, dict):
            continue
        for tag, count in folder.items():
            if isinstance(count, bool) or not isinstance(count, int | float) or not 0 <= count <= MAX_COUNT:
                skipped += 1
                continue
            if tag.strip():
                counts[display(tag.strip())] += int(count)
    if skipped:
        problems.append(
            f"metadata ss_tag_frequency has {skipped} counts that are not numbers of images (not numbers, "
            "negative or absurdly large); they are ignored"
        )
    return counts, problems


def suggested_words(counts: Counter[str], limit: int = 10) -> list[str]:
    """The most frequent caption tags: what the LoRA most likely responds to."""
    return [tag for tag, _ in counts.most_common(limit)]


def words_from_text(text: str) -> list[str]:
    """Split a comma-separated trigger text into words, keeping order, dropping blanks."""
    return [word.strip() for word in text.replace("\n", ",").split(",") if word.strip()]
