# wnnrec: `make install` sets up .venv; `make test` is the test command; `make run` is the main job.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RESULTS ?= results

.PHONY: install test test-fast test-faults lint contracts run evaluate bench clean broker-start broker-stop

$(BIN)/wnnrec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[eval,test]'
	@touch $@

install: $(BIN)/wnnrec

# Starts the local broker for the integration tests when none answers, and stops it afterwards.
test: install
	$(BIN)/wnnrec data fetch
	deploy/kafka/with-broker $(BIN)/pytest -q -rs -m "not faults"

# The fault suite: real broker, real worker processes killed and restarted (about 2 minutes). Needs the broker that
# deploy/kafka/start runs (one case stops and restarts it). Its measurements go to $(FAULTS_JSON), outside the tracked
# tree; `make test-faults FAULTS_JSON=results/faults.json` updates the published ones.
FAULTS_JSON ?= $(or $(TMPDIR),/tmp)/wnnrec-faults.json
test-faults: install
	$(BIN)/wnnrec data fetch
	WNNREC_FAULTS_JSON=$(FAULTS_JSON) deploy/kafka/with-broker $(BIN)/pytest -q -rs -m faults tests/faults

# Style and types: ruff (lint and format) over the code and the tests, mypy (strict) over wnn/, stream/ and wnnrec/
lint: install
	$(BIN)/ruff check wnn stream wnnrec tests
	$(BIN)/ruff format --check wnn stream wnnrec tests
	$(BIN)/mypy

# The files derived from the topics' contracts (stream/contracts.py): schemas/ and the ACL table the broker's
# --secure mode reads. A test fails when they are out of date.
contracts: install
	$(BIN)/python -m stream.contracts

test-fast: install
	$(BIN)/pytest -q -m "not data and not broker and not faults"

evaluate: install
	$(BIN)/wnnrec data fetch
	$(BIN)/wnnrec evaluate --protocol prequential --json $(RESULTS)/prequential.json --plot $(RESULTS)/prequential.png
	$(BIN)/wnnrec evaluate --protocol per-user-split --json $(RESULTS)/per_user_split.json --plot $(RESULTS)/per_user_split.png
	$(BIN)/wnnrec evaluate --protocol prequential --implicit --json $(RESULTS)/prequential_implicit.json

bench: install
	$(BIN)/wnnrec data fetch
	$(BIN)/wnnrec bench model --json $(RESULTS)/bench_model.json
	$(BIN)/wnnrec bench pipeline --json $(RESULTS)/bench_pipeline.json

run: install
	$(BIN)/wnnrec data fetch
	$(BIN)/wnnrec run --report runs/latest

broker-start:
	deploy/kafka/start

broker-stop:
	deploy/kafka/stop

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
