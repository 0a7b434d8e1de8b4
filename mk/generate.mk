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
#   make results/bench_generation.json training/generation speed and memory
#
# Runs are configs/runs/train-generator/<run>.yaml; window length L comes from the path. The studies
# built on these runs (utility, sweeps, volume, results/rsvqae.json) are in experiments/generation.mk.

GEN_DOMAINS ?= movielens-1m retailrocket
GEN_LENGTHS ?= 20 100
GEN_RUNS ?= rsvq rsvq_noskip rsvq_1cb rsvq_noadv rsvq_cskip ae vae vqvae
GEN_PRIOR_RUNS := rsvq vqvae
GEN_SAMPLERS := rsvq vae vqvae
GEN_DOMAIN ?= movielens-1m
GEN_L ?= 20
GEN_RUN ?= rsvq
GEN_REPORTS ?= reports/generation

# per-domain settings of the generation runs (--set). They must be defined before the GEN_RULES
# expansion below, which reads them (defined after it, Scientific's settings were silently dropped).
# Scientific's generator is for augmentation, so it sees only each user's leave-one-out training part,
# and makes as many windows as there are users
GEN_SET_Scientific := windows.holdout=train_part generate.n_sequences=8442
# per-length settings. At L=100 the code priors get 14 epochs and a 70-minute cap: with 6 epochs (and
# the stage's former 20-minute cap, which cut it in its 6th epoch) the MovieLens-1M RSVQ-AE prior
# ended at 1,470 nats per window, still falling; 14 epochs reach 1,353 and lift train-on-synthetic from
# 15-21% to 59% of train-on-real at T=1 (docs/design-notes.md). The VQ-VAE priors stop early either way.
GEN_SET_L100 := prior.train.epochs=14 prior.train.max_minutes=70


.PHONY: gen-model gen-eval

# GEN_RULES(domain, L, run): the chain of one run
define GEN_RULES
$(ART)/$(1)/gen/L$(2)/$(3)/config/train-generator.$(3).json $(ART)/$(1)/gen/L$(2)/$(3)/config/train-prior.json $(ART)/$(1)/gen/L$(2)/$(3)/config/generate.json $(ART)/$(1)/gen/L$(2)/$(3)/config/evaluate-generation.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/.resolve ;
$(ART)/$(1)/gen/L$(2)/$(3)/config/.resolve: FORCE | $(INSTALLED)
	@$$(RESOLVE) --domain $(1) --configs $(CONFIGS) --outdir $(ART)/$(1)/gen/L$(2)/$(3)/config \
	  --stages train-generator.$(3) train-prior generate evaluate-generation --set windows.length=$(2) \
	  $(foreach s,$(GEN_SET_$(1)) $(GEN_SET_L$(2)),--set $(s)) $$(SETS)

$(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/train-generator.$(3).json $(ART)/$(1)/prepared/manifest.json $(DEPS.train-generator) | $(INSTALLED)
	$$(RUN) textcode train-generator --config $$< --prepared $(ART)/$(1)/prepared --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/train-prior.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json $(DEPS.train-prior) | $(INSTALLED)
	$$(RUN) textcode train-prior --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/samples/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/generate.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json $(if $(filter $(3),$(GEN_PRIOR_RUNS)),$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json) $(DEPS.generate) | $(INSTALLED)
	$$(RUN) textcode generate --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  $(if $(filter $(3),$(GEN_PRIOR_RUNS)),--prior $(ART)/$(1)/gen/L$(2)/$(3)/prior) --out $$(@D)

$(ART)/$(1)/gen/L$(2)/$(3)/eval/manifest.json: $(ART)/$(1)/gen/L$(2)/$(3)/config/evaluate-generation.json $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json \
  $(if $(filter $(3),$(GEN_SAMPLERS)),$(ART)/$(1)/gen/L$(2)/$(3)/samples/manifest.json) $(if $(filter $(3),$(GEN_PRIOR_RUNS)),$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json) \
  $(DEPS.evaluate-generation) | $(INSTALLED)
	$$(RUN) textcode evaluate-generation --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  $(if $(filter $(3),$(GEN_SAMPLERS)),--samples $(ART)/$(1)/gen/L$(2)/$(3)/samples) $(if $(filter $(3),$(GEN_PRIOR_RUNS)),--prior $(ART)/$(1)/gen/L$(2)/$(3)/prior) --out $$(@D)
endef
$(foreach d,$(sort $(GEN_DOMAINS) $(GEN_DOMAIN) demo-movielens Scientific),$(foreach l,$(sort $(GEN_LENGTHS) $(GEN_L)),\
  $(foreach r,$(GEN_RUNS),$(eval $(call GEN_RULES,$(d),$(l),$(r))))))

gen-model: $(ART)/$(GEN_DOMAIN)/gen/L$(GEN_L)/$(GEN_RUN)/model/manifest.json
gen-eval: $(ART)/$(GEN_DOMAIN)/gen/L$(GEN_L)/$(GEN_RUN)/eval/manifest.json

results/bench_generation.json: $(DEPS.bench_generation) | $(INSTALLED)
	$(RUN) bench.bench_generation --out $@

# ---------------------------------------------------------------- demo: RSVQ-AE and the VAE on the embedded MovieLens sample
DEMO_GEN := $(ART)/demo-movielens/gen/L20
DEMO_TARGETS += $(DEMO_GEN)/rsvq/eval/manifest.json $(DEMO_GEN)/vae/eval/manifest.json
