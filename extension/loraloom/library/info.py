"""Everything known about one LoRA, merged with a clear precedence, as ``inspect`` prints it.

Precedence for what people edit: the user sidecar (A1111's ``<base>.json``) over Civitai
Helper's ``<base>.civitai.info`` over the file's own metadata over a ``<base>.txt``. Sidecar
values are taken only in the type they are meant to have (a string, a list of strings, a finite
number); anything else is ignored, never turned into text such as single letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .discovery import LoraEntry
from .hashes import Hashes
from .identify import FileSummary
from .sidecars import TXT_TRIGGER_LIMIT, SidecarData
from .training import suggested_words, tag_frequency, training_summary, words_from_text
from .untrusted import display, finite_number, text_list, text_of


@dataclass(frozen=True)
class LoraInfo:
    entry: LoraEntry
    summary: FileSummary
    sidecars: SidecarData
    hashes: Hashes | None = None
    hash_problem: str | None = None

    @property
    def alias(self) -> str | None:
        return self.summary.metadata.get("ss_output_name") or None

    @property
    def trigger_words(self) -> list[str]:
        """Activation text, then Civitai ``trainedWords``, then file metadata, then a short ``.txt``."""
        words: list[str] = []
        words += words_from_text(text_of(self.sidecars.user.get("activation text")))
        for trained in text_list(self.sidecars.civitai.get("trainedWords")):  # a list, or one string
            words += words_from_text(trained)
        metadata = self.summary.metadata
        words += words_from_text(metadata.get("modelspec.trigger_phrase", "") + "," + metadata.get("ssmd_keywords", ""))
        if self.sidecars.txt and len(self.sidecars.txt) <= TXT_TRIGGER_LIMIT:
            words += words_from_text(self.sidecars.txt)
        return list(dict.fromkeys(display(word) for word in words))

    @property
    def preferred_weight(self) -> float | None:
        """The user sidecar's preferred weight (A1111 stores 0 for "use the default"); finite or ``None``."""
        weight = finite_number(self.sidecars.user.get("preferred weight"))
        return weight or None

    @property
    def description(self) -> str:
        civitai_model = self.sidecars.civitai.get("model")
        candidates = [
            self.sidecars.user.get("description"),
            self.sidecars.civitai.get("description"),
            civitai_model.get("description") if isinstance(civitai_model, dict) else None,
            self.summary.metadata.get("modelspec.description"),
            self.summary.metadata.get("ssmd_description"),
            self.sidecars.txt if len(self.sidecars.txt) > TXT_TRIGGER_LIMIT else None,
        ]
        return next((display(text) for text in candidates if isinstance(text, str) and text), "")

    @property
    def problems(self) -> list[str]:
        problems = ([self.entry.problem] if self.entry.problem else []) + [str(p) for p in self.summary.problems]
        if self.entry.is_safetensors and display(self.entry.path) != self.entry.path:
            problems.append(
                "its path is not valid UTF-8, which safetensors cannot open: it cannot be applied; rename it"
            )
        problems += list(self.sidecars.problems)
        problems += [self.hash_problem] if self.hash_problem else []
        return list(dict.fromkeys(problems))

    def to_json(self) -> dict[str, Any]:
        counts, frequency_problems = tag_frequency(self.summary.metadata)
        civitai = self.sidecars.civitai
        civitai_model = civitai.get("model") if isinstance(civitai.get("model"), dict) else {}
        return {
            "path": display(self.entry.path),
            "name": self.entry.name,
            "alias": self.alias,
            "format": self.summary.format,
            "family": self.summary.family,
            "family_reason": self.summary.family_reason,
            "kinds": self.summary.kinds,
            "rank": self.summary.rank,
            "alpha": self.summary.alpha,
            "modules": self.summary.modules,
            "parts": self.summary.parts,
            "blocks": self.summary.blocks,
            "dtype": self.summary.dtype,
            "params": self.summary.params,
            "size": self.entry.size,
            "sha256": self.hashes.sha256 if self.hashes else None,
            "shorthash": self.hashes.shorthash if self.hashes else None,
            "addnet_hash": self.hashes.addnet if self.hashes else None,
            "trigger_words": self.trigger_words,
            "suggested_words": suggested_words(counts),
            "tag_frequency": dict(counts.most_common(50)),
            "preferred_weight": self.preferred_weight,
            "preview": display(self.entry.sidecars.preview) if self.entry.sidecars.preview else None,
            "description": self.description,
            "user_metadata": self.sidecars.user,
            "civitai": {
                "model": text_of(civitai_model.get("name")) or None,
                "model_id": _identifier(civitai.get("modelId")) or _identifier(civitai_model.get("id")),
                "version_id": _identifier(civitai.get("id")),
                "base_model": text_of(civitai.get("baseModel")) or None,
            }
            if civitai
            else None,
            "training": training_summary(self.summary.metadata),
            "metadata": self.summary.metadata,
            "problems": display_problems(self.problems + frequency_problems),
        }


def _identifier(value: Any) -> int | str | None:
    """A Civitai id: an integer or a short string, nothing else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**63:
        return value
    return display(value)[:64] if isinstance(value, str) and value else None


def display_problems(problems: list[str]) -> list[str]:
    return [display(problem) for problem in problems]
