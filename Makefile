# The two commands: `make demo` runs leerID with both demo platforms; `make test` passes the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench browser-deps install clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/leerid demo

# Headless Chromium for the page tests: Debian's package (Playwright drives /usr/bin/chromium).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the page tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -n 2 --timeout 300 $(PYTEST_ARGS)

# The benchmark (not part of the tests): DRIVER is the OpenID Connect load driver, REFERENCE the reference provider's
# directory (run in the same run, for the ratios); see bench/run.py.
DRIVER ?= ../shared/bench/oidc_load.py
REFERENCE ?= ../shared/bench
DURATION ?= 20
bench: $(STAMP)
	$(BIN)/python bench/run.py --driver $(DRIVER) $(if $(REFERENCE),--reference $(REFERENCE)) --duration $(DURATION)

clean:
	rm -rf $(VENV) var build *.egg-info

# After changing a Dutch text: add its English translation to idp/translations/en/LC_MESSAGES/messages.po.
translations: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location -o var/messages.pot .
	$(BIN)/pybabel update -i var/messages.pot -d idp/translations -l en --ignore-obsolete
	$(BIN)/pybabel compile -d idp/translations -l en
