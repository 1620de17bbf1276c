# Two entry points (see README.md): `make drill` and `make test`. Both set up .venv themselves.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

$(STAMP): pyproject.toml examples/orders/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# The worked example of docs/extending.md, installed as a user installs an extension.
	$(BIN)/pip install -q --no-deps -e examples/orders
	touch $@

# The Node.js driver tests' packages (tests/node); npm writes the hidden lockfile on install.
NODE_PACKAGES := tests/node/node_modules/.package-lock.json

$(NODE_PACKAGES): tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund

.PHONY: setup drill test lint node-packages
setup: $(STAMP)

# Without node the Node.js driver tests skip; with it they need these packages.
node-packages:
	@if command -v node >/dev/null; then $(MAKE) --no-print-directory $(NODE_PACKAGES); \
	else echo "node not found: the Node.js driver tests will be skipped"; fi

drill: $(STAMP)
	$(BIN)/hubchaos run scenarios/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two workers, a test file each at a time (a file's drills share fixtures): most of a drill's
# time is waiting on elections and load phases, so two files overlap on two cores. Files go out
# in collection order (tests/conftest.py puts the slow drills first), not by their test count.
test: lint node-packages
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25
