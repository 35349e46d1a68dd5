"""How well a model writes: perplexity, next-reply ranking, BLEU and chrF, style match,
degeneration and authorship attribution, the paired bootstrap intervals that compare a
tuned model with the base, and the `writes_like_owner` judgement drawn from them."""
