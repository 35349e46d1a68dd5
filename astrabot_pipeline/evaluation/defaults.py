"""The evaluation's check names and the defaults its Dagster config shows, in a module that
imports no model library: the definitions read them at load time, which every Dagster
process start pays for, and the scoring code needs torch (lazy_exports.py says why)."""

DEFAULT_PII_LEAKAGE_THRESHOLD = 0.01
DEFAULT_MEMORIZATION_THRESHOLD = 0.05
DEFAULT_SAMPLES = 8  # side-by-side generations for samples.md; 0: none
# Sampled completions per leakage and probe prompt, and their temperature (PrivacyTestSettings).
DEFAULT_SAMPLES_PER_PROMPT = 2
DEFAULT_TEMPERATURE = 0.8

PII_CHECK = "pii_leakage_score_below_threshold"
MEMORIZATION_CHECK = "memorization_score_below_threshold"
PERPLEXITY_CHECK = "last_stage_perplexity_below_base"

MEMBERSHIP_CHECK = "membership_inference_near_chance"
# Members and non-members (each, at most) the membership audit scores, and the reference
# attack's AUC the upper end of whose interval `MEMBERSHIP_CHECK` passes at or below.
DEFAULT_MEMBERSHIP_EXAMPLES = 80
DEFAULT_NEAR_CHANCE_AUC = 0.6
# The audits fit each record to this many tokens (the context trimmed from the left, as
# training trims it; the owner's reply whole), or to the stages' max_length if smaller.
DEFAULT_AUDIT_MAX_TOKENS = 256
