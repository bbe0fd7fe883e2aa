# MVC — `make run` starts the product on the embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT

.PHONY: run run-lan test translations extract system-deps fastpath bench loadbench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements-test.txt requirements.txt $(VENV)/.run-deps
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# The media worker's per-packet egress in C (media/_rtpfast.c); without a compiler and the
# Python headers the worker uses the same steps in Python (slower) and this says so.
fastpath: $(VENV)/.run-deps
	$(BIN)/python -m media.build_fastpath

translations: $(VENV)/.run-deps
	$(BIN)/pybabel compile -d mvc/translations

extract: $(VENV)/.run-deps
	$(BIN)/pybabel extract -F config/babel.cfg -k _l -o mvc/translations/messages.pot .
	$(BIN)/pybabel update -i mvc/translations/messages.pot -d mvc/translations

# TLS=1: HTTPS with a self-signed certificate for LAN_IP (default: this machine's LAN
# address), media workers announcing LAN_IP; `make run-lan` = `HOST=0.0.0.0 TLS=1 make run`.
LAN_IP ?= $(shell $(BIN)/python -m mvc lan)
TLS ?= 0
export TLS
run: export MVC_PUBLIC_URL ?= $(if $(filter 1,$(TLS)),https://$(LAN_IP):$(PORT),http://127.0.0.1:$(PORT))
run: export MVC_MEDIA_ANNOUNCED_IP ?= $(if $(filter 1,$(TLS)),$(LAN_IP))
run: export MVC_SECURE_COOKIES ?= $(if $(filter 1,$(TLS)),1,0)
run: $(VENV)/.run-deps translations fastpath
	$(BIN)/python -m mvc migrate
	$(BIN)/python -m mvc seed
	$(if $(filter 1,$(TLS)),$(BIN)/python -m mvc lan $(LAN_IP))
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

run-lan:
	$(MAKE) run HOST=0.0.0.0 TLS=1

system-deps:
	bash tests/system-deps.sh

# Two parts, both always run: everything but the browser tests on two pytest-xdist workers,
# then the browser tests alone, one after another (Chromium pages encoding and decoding
# video take both cores; beside other tests they ran four times slower).
test: $(VENV)/.test-deps translations system-deps fastpath
	@status=0; \
	$(BIN)/python -m pytest -n 2 tests/unit tests/functional tests/media || status=$$?; \
	$(BIN)/python -m pytest tests/browser || status=$$?; \
	exit $$status

bench: $(VENV)/.run-deps fastpath
	$(BIN)/python -m media.bench --publishers 1 --subscribers 8 --seconds 20
	$(BIN)/python -m media.bench --publishers 4 --subscribers 4 --seconds 20

loadbench: $(VENV)/.run-deps
	$(BIN)/python -m mvc.loadbench --rooms 35
	$(BIN)/python -m mvc.loadbench --rooms 30x5,150

clean:
	rm -rf $(VENV) var .pytest_cache media/_rtpfast*.so
