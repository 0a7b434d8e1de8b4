# Sequence generation: RSVQ-AE, its ablations and baselines (AE, VAE, VQ-VAE), code priors,
# sampling and evaluation. One folder per (domain, window length, run):
#
#   $(ART)/<domain>/gen/L<L>/<run>/config/   resolved configs of its four stages
#                                 /model/    train-generator   (every run)
#                                 /prior/    train-prior       (GEN_PRIOR_RUNS)
#                                 /samples/  generate          (GEN_SAMPLERS; loadable with Domain.load)
#                                 /eval/     evaluate-generation -> metrics.json
#
#   make gen-eval GEN_DOMAIN=movielens-1m GEN_L=20 GEN_RUN=rsvq   one run, up to its metrics
#   make results/generation.json       every run x domain x length, then the report (reports/generation/)
#   make results/bench_generation.json training/generation speed and memory
#
# Runs are configs/runs/train-generator/<run>.yaml; window length L comes from the path.

GEN_DOMAINS ?= movielens-1m retailrocket
GEN_LENGTHS ?= 20 100
GEN_RUNS ?= rsvq rsvq_noskip rsvq_1cb rsvq_noadv rsvq_cskip ae vae vqvae
GEN_PRIOR_RUNS := rsvq vqvae
GEN_SAMPLERS := rsvq vae vqvae
GEN_DOMAIN ?= movielens-1m
GEN_L ?= 20
GEN_RUN ?= rsvq
GEN_REPORTS ?= reports/generation

CODE_gen := $(CODE_common) pipeline/genconfig.py pipeline/data/windows.py pipeline/data/domain.py pipeline/models/rsvq.py \
            pipeline/models/quantize.py pipeline/models/blocks.py pipeline/models/checkpoint.py
CODE_train_generator := stages/train_generator.py $(CODE_gen) pipeline/gentrain.py pipeline/models/discriminator.py
CODE_train_prior := stages/train_prior.py $(CODE_gen) pipeline/gentrain.py pipeline/models/prior.py
CODE_generate := stages/generate.py $(CODE_gen) pipeline/generation.py pipeline/models/prior.py
CODE_evaluate_generation := stages/evaluate_generation.py $(CODE_gen) pipeline/genmetrics.py pipeline/gentrain.py pipeline/models/prior.py

.PHONY: gen-model gen-eval

# GEN_RULES(domain, L, run): the chain of one run
define GEN_RULES
$(ART)/$(1)/gen/L$(2)/$(3)/config/train-generator.$(3).json $(ART)/$(1)/gen/L$(2)/$(3)/config/train-prior.json $(ART)/$(1)/gen/L$(2)/$(3)/config/generate.json $(ART)/$(1)/gen/L$(2)/$(3)/config/evaluate-generation.json &: FORCE | $(INSTALLED)
	@$$(RUN) stages.resolve --domain $(1) --configs $(CONFIGS) --outdir $(ART)/$(1)/gen/L$(2)/$(3)/config \
	  --stages train-generator.$(3) train-prior generate evaluate-generation --set windows.length=$(2) $$(SETS)

$(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/train-generator.$(3).json $(ART)/$(1)/prepared/manifest.json $(CODE_train_generator) | $(INSTALLED)
	$$(RUN) stages.train_generator --config $$< --prepared $(ART)/$(1)/prepared --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/train-prior.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json $(CODE_train_prior) | $(INSTALLED)
	$$(RUN) stages.train_prior --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/samples/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/generate.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json $(if $(filter $(3),$(GEN_PRIOR_RUNS)),$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json) $(CODE_generate) | $(INSTALLED)
	$$(RUN) stages.generate --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  $(if $(filter $(3),$(GEN_PRIOR_RUNS)),--prior $(ART)/$(1)/gen/L$(2)/$(3)/prior) --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/eval/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/evaluate-generation.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json \
  $(if $(filter $(3),$(GEN_SAMPLERS)),$(ART)/$(1)/gen/L$(2)/$(3)/samples/manifest.json) $(if $(filter $(3),$(GEN_PRIOR_RUNS)),$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json) \
  $(CODE_evaluate_generation) | $(INSTALLED)
	$$(RUN) stages.evaluate_generation --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  $(if $(filter $(3),$(GEN_SAMPLERS)),--samples $(ART)/$(1)/gen/L$(2)/$(3)/samples) $(if $(filter $(3),$(GEN_PRIOR_RUNS)),--prior $(ART)/$(1)/gen/L$(2)/$(3)/prior) --out $$(@D)
endef
$(foreach d,$(sort $(GEN_DOMAINS) $(GEN_DOMAIN) demo-movielens),$(foreach l,$(sort $(GEN_LENGTHS) $(GEN_L)),\
  $(foreach r,$(GEN_RUNS),$(eval $(call GEN_RULES,$(d),$(l),$(r))))))

gen-model: $(ART)/$(GEN_DOMAIN)/gen/L$(GEN_L)/$(GEN_RUN)/model/manifest.json
gen-eval: $(ART)/$(GEN_DOMAIN)/gen/L$(GEN_L)/$(GEN_RUN)/eval/manifest.json

# ---------------------------------------------------------------- the full experiment and its report
GEN_EVALS := $(foreach d,$(GEN_DOMAINS),$(foreach l,$(GEN_LENGTHS),$(foreach r,$(GEN_RUNS),$(d)/L$(l)/$(r))))

results/generation.json: $(foreach e,$(GEN_EVALS),$(ART)/$(subst /L,/gen/L,$(e))/eval/manifest.json) \
  stages/report_generation.py pipeline/genreport.py | $(INSTALLED)
	$(RUN) stages.report_generation $(foreach e,$(GEN_EVALS),--eval $(e)=$(ART)/$(subst /L,/gen/L,$(e))/eval) \
	  --out $(GEN_REPORTS) --results $@

results/bench_generation.json: bench/bench_generation.py $(CODE_gen) pipeline/gentrain.py pipeline/models/prior.py \
  pipeline/generation.py | $(INSTALLED)
	$(PY) bench/bench_generation.py --out $@

# ---------------------------------------------------------------- demo: RSVQ-AE and the VAE on the embedded MovieLens sample
DEMO_GEN := $(ART)/demo-movielens/gen/L20
DEMO_TARGETS += $(DEMO_GEN)/rsvq/eval/manifest.json $(DEMO_GEN)/vae/eval/manifest.json
