"""Everything known about one LoRA, merged with a clear precedence, as ``inspect`` prints it.

Precedence for what people edit: the user sidecar (A1111's ``<base>.json``) over Civitai
Helper's ``<base>.civitai.info`` over the file's own metadata over a ``<base>.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .discovery import LoraEntry
from .hashes import Hashes
from .identify import FileSummary
from .sidecars import TXT_TRIGGER_LIMIT, SidecarData
from .training import suggested_words, tag_frequency, training_summary, words_from_text


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
        words += words_from_text(str(self.sidecars.user.get("activation text") or ""))
        for trained in self.sidecars.civitai.get("trainedWords") or []:
            words += words_from_text(str(trained))
        metadata = self.summary.metadata
        words += words_from_text(metadata.get("modelspec.trigger_phrase", "") + "," + metadata.get("ssmd_keywords", ""))
        if self.sidecars.txt and len(self.sidecars.txt) <= TXT_TRIGGER_LIMIT:
            words += words_from_text(self.sidecars.txt)
        return list(dict.fromkeys(words))

    @property
    def preferred_weight(self) -> float | None:
        """The user sidecar's preferred weight (A1111 stores 0 for "use the default")."""
        try:
            weight = float(self.sidecars.user.get("preferred weight") or 0)
        except (TypeError, ValueError):
            return None
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
        return next((str(text) for text in candidates if text), "")

    @property
    def problems(self) -> list[str]:
        problems = ([self.entry.problem] if self.entry.problem else []) + list(self.summary.problems)
        problems += list(self.sidecars.problems)
        problems += [self.hash_problem] if self.hash_problem else []
        return list(dict.fromkeys(problems))

    def to_json(self) -> dict[str, Any]:
        counts, frequency_problems = tag_frequency(self.summary.metadata)
        civitai = self.sidecars.civitai
        civitai_model = civitai.get("model") if isinstance(civitai.get("model"), dict) else {}
        return {
            "path": self.entry.path,
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
            "preview": self.entry.sidecars.preview,
            "description": self.description,
            "user_metadata": self.sidecars.user,
            "civitai": {
                "model": civitai_model.get("name"),
                "model_id": civitai.get("modelId") or civitai_model.get("id"),
                "version_id": civitai.get("id"),
                "base_model": civitai.get("baseModel"),
            }
            if civitai
            else None,
            "training": training_summary(self.summary.metadata),
            "metadata": self.summary.metadata,
            "problems": self.problems + frequency_problems,
        }
