# Continuum: `make demo` runs the demo, `make test` runs every test. Both set themselves up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup godot xvfb demo test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml scripts/setup_venv.sh
	scripts/setup_venv.sh $(VENV)
	@touch $@

setup: $(STAMP) godot  ## virtual environment and Godot 4 (cached under .venv and .cache)

godot:  ## provision Godot 4 (honours GODOT=/path/to/godot)
	@scripts/provision_godot.sh >/dev/null

xvfb:  ## Xvfb for the windowed tests: the system's, else Debian's into .cache (honours XVFB=)
	@scripts/provision_xvfb.sh >/dev/null

demo: setup  ## start the backend and the Godot demo, print what they exchanged
	$(VENV)/bin/continuum demo

lint: $(STAMP)  ## ruff and gdlint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd engine_plugin/godot && ../../$(VENV)/bin/gdlint .

test: setup xvfb lint  ## every test: Python unit, vectors, real pyzmq, real Godot (headless, Xvfb)
	GODOT="$$(scripts/provision_godot.sh)" XVFB="$$(scripts/provision_xvfb.sh)" $(PY) -m pytest -q

bench: setup  ## the bridge benchmark (one JSON object)
	GODOT="$$(scripts/provision_godot.sh)" $(VENV)/bin/continuum bench bridge

clean:  ## remove the virtual environment, Godot, Xvfb and caches
	rm -rf $(VENV) .cache engine_plugin/godot/.godot .pytest_cache .ruff_cache
