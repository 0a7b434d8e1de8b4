# The seeds' other recommenders on one harness (docs/baselines.md): the autoencoder family, EASE, CDDRec and
# SASRec-ID, each trained (its `search` grid chosen on validation), evaluated in both protocols and reported.
#
#   make results/baselines.json                    every domain below; long on a CPU (resumes per run)
#   make $(REPORTS)/<domain>-baselines/summary.json   one domain's report (report.md, metrics.png, summary.json)

BASELINE_MODELS := autorec deeprec cdae multdae multvae svae ease cddrec sasrec_id
BASELINES_RUNS.Scientific := $(BASELINE_MODELS)
BASELINES_RUNS.movielens-1m := $(BASELINE_MODELS)
BASELINES_RUNS.amazon2014-beauty := cddrec sasrec_id
BASELINES_DOMAINS := Scientific movielens-1m amazon2014-beauty
# the row the paired tests compare against: the sequence model every table has
BASELINES_REFERENCE := sasrec_id

$(REPORTS)/%-baselines/summary.json: $$(foreach r,$$(BASELINES_RUNS.$$*),$(ART)/$$*/eval/$$(r)/manifest.json) $(ART)/%/config/report.json $(DEPS.report) | $(INSTALLED)
	$(RUN) textcode report --config $(ART)/$*/config/report.json $(foreach r,$(BASELINES_RUNS.$*),--eval $(r)=$(ART)/$*/eval/$(r)) \
	  --reference $(BASELINES_REFERENCE) --out $(@D)

results/baselines.json: $(foreach d,$(BASELINES_DOMAINS),$(REPORTS)/$(d)-baselines/summary.json) $(DEPS.collect-reports) | $(INSTALLED)
	$(RUN) experiments collect-reports --set baselines $(foreach d,$(BASELINES_DOMAINS),--report $(d)=$(REPORTS)/$(d)-baselines) --out $@
