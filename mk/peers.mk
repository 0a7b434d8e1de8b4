# Peers in the same run (docs/peers.md): RecBole 1.2.1's SASRec, MultiVAE, MultiDAE, CDAE and EASE against ours on
# one domain's leave-one-out split, both sides scored by our evaluator.
#
#   make recbole-env                          RecBole's own environment .venv-recbole/ (bench/peers/requirements.txt);
#                                             the project's .venv is untouched
#   make results/peers.json DOMAIN=Scientific the benchmark (hours on 2 cores: RecBole's SASRec is the long part;
#                                             PEERS_ARGS="--sasrec-epochs 10" caps its epochs)
#   make peers-quick                          1 epoch per model on demo-scientific -> $(ART)/demo-scientific/peers-quick/
#
# CPU-bound and timed: run it on a quiet machine (the JSON records the load average at the end).

RECBOLE_ENV ?= .venv-recbole
RECBOLE_INSTALLED := $(RECBOLE_ENV)/.installed
PEERS_ARGS ?=
PEERS_RUNS := finetune.sasrec_id baseline.multvae baseline.multdae baseline.cdae baseline.ease

.PHONY: recbole-env peers-quick

# recbole itself without its declared dependencies: they include ray, which only its hyper-parameter search imports
$(RECBOLE_INSTALLED): bench/peers/requirements.txt
	@test -x $(RECBOLE_ENV)/bin/python || python3 -m venv $(RECBOLE_ENV)
	$(RECBOLE_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(RECBOLE_ENV)/bin/python -m pip install --quiet -r $<
	$(RECBOLE_ENV)/bin/python -m pip install --quiet --no-deps recbole==1.2.1
	@touch $@
recbole-env: $(RECBOLE_INSTALLED)

results/peers.json: $(ART)/$(DOMAIN)/prepared/manifest.json $(foreach r,$(PEERS_RUNS),$(ART)/$(DOMAIN)/config/$(r).json) \
                    $(DEPS.peers) | $(INSTALLED) $(RECBOLE_INSTALLED)
	$(PY) bench/peers/run.py --domain $(DOMAIN) --art $(ART) --config-dir $(ART)/$(DOMAIN)/config \
	  --recbole-python $(RECBOLE_ENV)/bin/python --out $@ $(PEERS_ARGS)

peers-quick: $(ART)/demo-scientific/prepared/manifest.json | $(INSTALLED) $(RECBOLE_INSTALLED)
	$(PY) bench/peers/run.py --quick --art $(ART) --recbole-python $(RECBOLE_ENV)/bin/python \
	  --out $(ART)/demo-scientific/peers-quick/peers.json $(PEERS_ARGS)
