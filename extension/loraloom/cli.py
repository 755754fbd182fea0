"""``loraloom`` command line: ``parse``, ``inspect``, ``samples`` and ``ui``.

Sub-commands import only what they need: ``parse`` never imports torch, so other tools can
call it per keystroke.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loraloom", description="LoRA tags, files and UI for Stable Diffusion.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parse = commands.add_parser("parse", help="parse <lora:…> tags in a prompt and print the result")
    parse.add_argument("text", nargs="?", help="the positive prompt")
    parse.add_argument("--negative", default="", metavar="TEXT", help="the negative prompt")
    parse.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parse.add_argument(
        "--batch",
        action="store_true",
        help='read one JSON object {"prompt", "negative"} per stdin line, write one result per line',
    )
    inspect = commands.add_parser("inspect", help="identify and describe LoRA files (a file, or a folder recursively)")
    inspect.add_argument("path", help="a LoRA file or a folder")
    inspect.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    inspect.add_argument(
        "--allow-pickle", action="store_true", help="open legacy .pt/.ckpt/.bin files (weights-only, no code runs)"
    )
    inspect.add_argument("--cache", metavar="FILE", help="keep summaries and hashes in FILE for the next run")
    ui = commands.add_parser("ui", help="serve the LoRA gallery, sliders and a live parse view in the browser")
    ui.add_argument(
        "--lora-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of LoRA files (repeatable); default: the bundled sample library",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=7870, help="port (default 7870)")
    samples = commands.add_parser("samples", help="write the sample LoRA library (real files, sidecars, previews)")
    samples.add_argument("folder", help="where to write it (created if missing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "parse":
        return _parse_command(parser, args)
    if args.command == "inspect":
        from .inspect_command import run_inspect

        return run_inspect(args.path, as_json=args.json, allow_pickle=args.allow_pickle, cache_path=args.cache)
    if args.command == "samples":
        from .samples import write_samples

        paths = write_samples(args.folder)
        print(f"wrote {len(paths)} sample LoRAs with sidecars and previews to {args.folder}")
        return EXIT_OK
    if args.command == "ui":
        return _ui_command(args)
    parser.error(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it first
    return EXIT_USAGE


def _ui_command(args: argparse.Namespace) -> int:
    import os

    from .ui.standalone import cache_folder, serve

    folders = args.lora_dir
    for folder in folders:
        if not os.path.isdir(folder):
            print(f"loraloom ui: {folder} is not a folder; give --lora-dir a folder of LoRA files", file=sys.stderr)
            return EXIT_USAGE
    if not folders:
        from .samples import write_samples

        sample_folder = os.path.join(cache_folder(), "samples")
        if not os.path.isdir(sample_folder):
            write_samples(sample_folder)
        folders = [sample_folder]
    serve(folders, host=args.host, port=args.port)
    return EXIT_OK


def _parse_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .syntax import parse
    from .syntax.report import format_table

    if args.batch:
        if args.text is not None or args.negative:
            parser.error("--batch reads prompts from stdin; give no TEXT or --negative")
        if not args.json:
            parser.error("--batch needs --json (one JSON result per line)")
        return _parse_batch(sys.stdin, sys.stdout)
    if args.text is None:
        parser.error("parse needs TEXT (or --batch)")
    result = parse(args.text, args.negative)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print(format_table(result))
    return EXIT_OK


def _parse_batch(lines: TextIO, out: TextIO) -> int:
    """One result per input line, in order; a malformed line gets an error object in its place."""
    from .syntax import parse

    status = EXIT_OK
    for number, line in enumerate(lines, start=1):
        try:
            request = json.loads(line)
            prompt, negative = request["prompt"], request.get("negative", "")
            if not isinstance(prompt, str) or not isinstance(negative, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            status = EXIT_USAGE
            message = f'line {number}: expected a JSON object {{"prompt": str, "negative": str}}'
            out.write(json.dumps({"error": message}) + "\n")
            continue
        out.write(json.dumps(parse(prompt, negative).to_json(), ensure_ascii=False) + "\n")
        out.flush()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
