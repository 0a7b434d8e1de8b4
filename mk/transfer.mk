# Your own category: one domain YAML (configs/domains/<name>.yaml), one command.
#
#   make transfer DOMAIN=<name>    prepare -> encode -> codes -> every run of TRANSFER_RUNS (the shipped or
#                                  named pre-trained model fine-tuned and as it is (zero-shot), from-scratch
#                                  codes, SASRec-ID, text-only, EASE, popularity) -> evaluate (both protocols,
#                                  CIs) -> report -> serving export
#   make -j2 OMP_NUM_THREADS=1 results/transfer.json   the same chain on TRANSFER_DOMAINS, collected
#   make transfer ... TRANSFER_JOBS=1   one stage at a time (default 2, each with half the cores)
#
# Output: $(REPORTS)/<name>/ (report.md, metrics.png, summary.json: run -> test metrics and wall seconds) and
# $(ART)/<name>/serving/ (`textcode recommend`). Nothing here names a domain: every configs/domains/*.yaml
# has these targets.

TRANSFER_RUNS ?= vqrec_pretrained vqrec_zero_shot vqrec_scratch sasrec_id text_only ease popularity
# the run the others are tested against in the report
TRANSFER_REFERENCE ?= vqrec_pretrained

.PHONY: transfer

# make starts prerequisites in the order they are listed and does not go back to one it passed while its inputs were
# being made, so the order decides the wall time: the longest run that needs only the text embeddings goes first
# (it starts as soon as encode ends, while codes are fitted); the rest keep their table order
TRANSFER_FIRST ?= text_only
TRANSFER_ORDER = $(filter $(TRANSFER_FIRST),$(TRANSFER_RUNS)) $(filter-out $(TRANSFER_FIRST),$(TRANSFER_RUNS))

$(REPORTS)/%/summary.json: $$(foreach r,$$(TRANSFER_ORDER),$(ART)/$$*/eval/$$(r)/manifest.json) $(ART)/%/config/report.json $(DEPS.report) $(CONFIGS)/published.yaml | $(INSTALLED)
	$(RUN) textcode report --config $(ART)/$*/config/report.json $(foreach r,$(TRANSFER_RUNS),--eval $(r)=$(ART)/$*/eval/$(r)) \
	  --reference $(TRANSFER_REFERENCE) --published $(CONFIGS)/published.yaml --out $(@D)

# the closing table and paths (`textcode show`), also after a make that had nothing left to do
TRANSFER_SHOW = $(RUN) textcode show --art $(ART) --domains $(1) --report $(REPORTS)/$(1) \
  --paths report=$(REPORTS)/$(1)/report.md chart=$(REPORTS)/$(1)/metrics.png serving=$(ART)/$(1)/serving \
  --then "textcode recommend --serving $(ART)/$(1)/serving --prepared $(ART)/$(1)/prepared --user <user id>"

# Independent stages (the fine-tunes, baselines, evaluations) run TRANSFER_JOBS at a time, each on its share of
# the cores: small models use one core better than two, so two one-thread runs finish sooner than two
# two-thread runs one after the other. (The installation is this make's prerequisite: the inner make takes it as done.)
TRANSFER_JOBS ?= 2
CORES := $(shell nproc 2>/dev/null || echo 1)
transfer: | $(INSTALLED)
	@$(MAKE) --no-print-directory -o $(INSTALLED) -j$(TRANSFER_JOBS) OMP_NUM_THREADS=$(shell echo $$(( $(CORES) / $(TRANSFER_JOBS) > 0 ? $(CORES) / $(TRANSFER_JOBS) : 1 ))) \
	  $(REPORTS)/$(DOMAIN)/summary.json $(ART)/$(DOMAIN)/serving/manifest.json
	@$(call TRANSFER_SHOW,$(DOMAIN))

# Transfer beyond one category (results/transfer.json, docs/results/vqrec.md): Scientific, outside the shipped
# model's corpus, and two of the corpus' own domains, each fine-tuned from the pre-training that left it out (its
# domain YAML names that run as finetune.pretrained; the fine-tune refuses a model pre-trained on its target).
# Long on 2 cores: encoding the corpus, two pre-trainings, and the fine-tunes of 50k-user domains.
TRANSFER_DOMAINS ?= Scientific amazon2014-beauty amazon2018-game
results/transfer.json: $(foreach d,$(TRANSFER_DOMAINS),$(REPORTS)/$(d)/summary.json) $(DEPS.collect-reports) | $(INSTALLED)
	$(RUN) experiments collect-reports --set transfer $(foreach d,$(TRANSFER_DOMAINS),--report $(d)=$(REPORTS)/$(d)) --out $@

# the demo is the same chain on the embedded Scientific sample (its pre-trained model: pre-training run `demo`)
DEMO_TARGETS += $(REPORTS)/demo-scientific/summary.json $(ART)/demo-scientific/serving/manifest.json
