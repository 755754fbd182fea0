"""`loraloom parse` through a real subprocess: JSON contract, batch mode, exit codes, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loraloom", "parse", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def test_json_for_one_prompt_pair() -> None:
    done = run("a <lora:x:0.5> <hypernet:h> <lora:y:o.8>", "--negative", "<lyco:n:-1> ugly", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["clean_prompt"] == "a   " and data["clean_negative"] == " ugly"
    assert [(t["name"], t["te"], t["source"], t["valid"]) for t in data["tags"]] == [
        ("x", 0.5, "positive", True),
        ("y", None, "positive", False),
        ("n", -1.0, "negative", True),
    ]
    assert data["foreign"] == [{"type": "hypernet", "raw": "<hypernet:h>", "span": [15, 27], "source": "positive"}]
    (error,) = data["diagnostics"]
    assert error["severity"] == "error" and error["span"] == [36, 39] and "o.8" in error["message"]


def test_unicode_survives_the_pipe() -> None:
    data = json.loads(run("<lora:日本語 スタイル:0.6>", "--json").stdout)
    assert data["tags"][0]["name"] == "日本語 スタイル"


def test_batch_answers_line_by_line_in_order() -> None:
    lines = [{"prompt": f"<lora:n{i}:{i / 10}>", "negative": "<lora:neg>" if i % 2 else ""} for i in range(20)]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n"
    done = run("--batch", "--json", stdin=stdin)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["tags"][0]["name"] for r in results] == [f"n{i}" for i in range(20)]
    assert [len(r["tags"]) for r in results] == [1 + i % 2 for i in range(20)]


def test_batch_keeps_alignment_on_a_bad_line_and_exits_2() -> None:
    done = run("--batch", "--json", stdin='{"prompt": "<lora:a>"}\nnot json\n{"prompt": "<lora:b>"}\n')
    assert done.returncode == 2
    first, bad, last = (json.loads(line) for line in done.stdout.splitlines())
    assert first["tags"][0]["name"] == "a" and "line 2" in bad["error"] and last["tags"][0]["name"] == "b"


@pytest.mark.parametrize("args", [[], ["--batch"], ["x", "--batch", "--json"], ["--bogus", "x"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 2 and "usage" in done.stderr


def test_table_without_json() -> None:
    done = run("<lora:ink:0.8:lbw=MIDD>", "--negative", "<lora:bad")
    assert done.returncode == 0
    assert "ink" in done.stdout and "lbw=MIDD" in done.stdout and "never closed" in done.stdout


def test_parse_does_not_import_torch() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from loraloom.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['parse', '<lora:x:1>', '--json'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'gradio', 'numpy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
