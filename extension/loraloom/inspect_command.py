"""``loraloom inspect PATH``: describe one LoRA file or every LoRA file under a folder."""

from __future__ import annotations

import json
import os
import sys

from .library import Library, LoraInfo
from .library.discovery import entry_for_file
from .library.untrusted import display, json_safe

EXIT_OK, EXIT_FAILED = 0, 1


def run_inspect(path: str, *, as_json: bool, allow_pickle: bool, cache_path: str | None) -> int:
    if os.path.isdir(path) and not path.lower().endswith(".safetensors"):
        library = Library([path], cache_path=cache_path, allow_pickle=allow_pickle)
        library.refresh()
        infos = [library.describe(entry) for entry in library.entries]
        for problem in library.problems:
            print(f"loraloom: {display(problem)}", file=sys.stderr)
        status = EXIT_OK
    else:
        library = Library([os.path.dirname(os.path.abspath(path))], cache_path=cache_path, allow_pickle=allow_pickle)
        info = library.describe(entry_for_file(path))
        infos = [info]
        status = EXIT_FAILED if _is_unusable(info) else EXIT_OK
        if status:
            print(f"loraloom: {display(path)}: {display(info.problems[0])}", file=sys.stderr)
    library.save()
    records = [json_safe(info.to_json()) for info in infos]
    print(json.dumps(records, ensure_ascii=False, indent=1) if as_json else _table(records))
    return status


def _is_unusable(info: LoraInfo) -> bool:
    return bool(info.entry.problem) or info.summary.modules == 0


def _table(records: list[dict]) -> str:
    if not records:
        return "no LoRA files found"
    lines = []
    for r in records:
        kinds = ", ".join(f"{kind}×{count}" for kind, count in r["kinds"].items()) or "-"
        rank = (
            f"r{r['rank']}/a{r['alpha']:g}"
            if r["rank"] and r["alpha"] is not None
            else (f"r{r['rank']}" if r["rank"] else "")
        )
        lines.append(
            f"{r['name']}  [{r['family']}, {r['format'] or '?'}, {kinds}, {rank}, {r['modules']} modules, "
            f"{r['size'] / 1e6:.1f} MB, {r['shorthash'] or 'no hash'}]"
        )
        if r["trigger_words"]:
            lines.append(f"    trigger words: {', '.join(r['trigger_words'])}")
        for problem in r["problems"]:
            lines.append(f"    problem: {problem}")
    return "\n".join(lines)
