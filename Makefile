# Two commands for a fresh machine: `make run` and `make test` (see README.md).
# pyenv installs keep each version behind a shim that only the global one answers: prefer
# the interpreter itself when pyenv has it.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) python3.11)
COMPAT_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)
VENV := .venv
BIN := $(VENV)/bin
COMPAT := .venv-a1111-py310
GRADIO3 := .venv-gradio3
LATEST := .venv-latest
TORCH := torch==2.13.0
PIP_QUIET ?= -q

SAMPLE_PROMPT := masterpiece, <lora:styles/ink v2:0.8>, 1girl <lora:detail:0.4@0,1@0.5:hr=0.6> <hypernet:old:1>
SAMPLE_NEGATIVE := lowres, <lora:bad-hands:-0.5>

.PHONY: run test lint unit compat gradio3 latest browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) --upgrade pip

# torch first and pinned: the project's own range would otherwise pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml requirements/dev-constraints.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_QUIET) $(TORCH)
	$(BIN)/pip install $(PIP_QUIET) -c requirements/dev-constraints.txt -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/pip install $(PIP_QUIET) -c requirements/dev-constraints.txt -e '.[test]'
	touch $@

# The standalone gallery on the bundled sample library (Ctrl+C stops): http://127.0.0.1:7870/
run: $(VENV)/.installed
	$(BIN)/loraloom parse --negative "$(SAMPLE_NEGATIVE)" "$(SAMPLE_PROMPT)"
	$(BIN)/loraloom ui

test: lint unit compat gradio3 latest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check extension tests scripts install.py benchmarks

# Browser tests drive Debian's chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

unit: $(VENV)/.test-installed browser
	$(BIN)/python -m pytest

# The UI and browser tests again under A1111's gradio 3.41.2 and its era's libraries.
$(GRADIO3)/.installed: requirements/gradio3-constraints.txt pyproject.toml
	$(PYTHON) -m venv $(GRADIO3)
	$(GRADIO3)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(GRADIO3)/bin/pip install $(PIP_QUIET) -c requirements/gradio3-constraints.txt \
		gradio==3.41.2 lark safetensors numpy pytest hypothesis playwright
	$(GRADIO3)/bin/pip install $(PIP_QUIET) --no-deps -e .
	touch $@

gradio3: $(GRADIO3)/.installed browser
	$(GRADIO3)/bin/python -c "import gradio; print('gradio-3 env: gradio', gradio.__version__)"
	$(GRADIO3)/bin/python -m pytest -p no:cacheprovider tests/ui tests/browser

# The torch-free suites again under Python 3.10 with A1111's pins (lark 1.1.2 …).
$(COMPAT)/.installed: requirements/a1111-py310.txt pyproject.toml
	$(COMPAT_PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(COMPAT)/bin/pip install $(PIP_QUIET) -r requirements/a1111-py310.txt
	$(COMPAT)/bin/pip install $(PIP_QUIET) --no-deps -e .
	touch $@

compat: $(COMPAT)/.installed
	$(COMPAT)/bin/python -c "import lark, sys; print('compat env: Python', sys.version.split()[0], 'lark', lark.__version__)"
	$(COMPAT)/bin/python -m pytest tests/syntax tests/cli/test_parse_cli.py tests/library/test_without_torch.py

# The patching, network and diffusers-host suites again against the newest diffusers, transformers
# and peft: no gradio here, so none of its pins (.venv keeps transformers < 5 for gradio 4.40).
# `latest` upgrades the three on every run (torch stays pinned), so a rename is caught the day it ships.
$(LATEST)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(LATEST)/bin/pip install $(PIP_QUIET) $(TORCH)
	$(LATEST)/bin/pip install $(PIP_QUIET) safetensors lark numpy pytest hypothesis lycoris-lora
	$(LATEST)/bin/pip install $(PIP_QUIET) --no-deps -e .
	touch $@

latest: $(LATEST)/.installed
	$(LATEST)/bin/pip install $(PIP_QUIET) --upgrade $(TORCH) diffusers transformers peft
	$(LATEST)/bin/python -c "import diffusers, peft, torch, transformers; print('latest env: diffusers', \
		diffusers.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'torch', torch.__version__)"
	$(LATEST)/bin/python -m pytest -p no:cacheprovider tests/patching tests/hosts tests/networks

bench: $(VENV)/.installed
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(COMPAT) $(GRADIO3) $(LATEST) build .pytest_cache .ruff_cache .hypothesis
