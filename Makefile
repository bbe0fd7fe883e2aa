# MVC — `make run` starts the product on the embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT

.PHONY: run test translations extract system-deps bench loadbench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements-test.txt requirements.txt $(VENV)/.run-deps
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

translations: $(VENV)/.run-deps
	$(BIN)/pybabel compile -d mvc/translations

extract: $(VENV)/.run-deps
	$(BIN)/pybabel extract -F config/babel.cfg -k _l -o mvc/translations/messages.pot .
	$(BIN)/pybabel update -i mvc/translations/messages.pot -d mvc/translations

run: export MVC_PUBLIC_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.run-deps translations
	$(BIN)/python -m mvc migrate
	$(BIN)/python -m mvc seed
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

system-deps:
	bash tests/system-deps.sh

test: $(VENV)/.test-deps translations system-deps
	$(BIN)/python -m pytest

bench: $(VENV)/.run-deps
	$(BIN)/python -m media.bench --publishers 1 --subscribers 8 --seconds 20
	$(BIN)/python -m media.bench --publishers 4 --subscribers 4 --seconds 20

loadbench: $(VENV)/.run-deps
	$(BIN)/python -m mvc.loadbench --rooms 35
	$(BIN)/python -m mvc.loadbench --rooms 30x5,150

clean:
	rm -rf $(VENV) var .pytest_cache
