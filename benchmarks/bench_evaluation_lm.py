"""The evaluation's generation and scoring workloads, against transformers' own paths.

* generation (16 chat prompts of 20-48 tokens, 24 new tokens, batches of 8 prompts):
  `generation.decoding.generate` (one left-padded prompt pass per batch, its cache shared
  by a prompt's greedy and sampled rows) with plain settings (`unshaped`, what the privacy
  probes use) against `model.generate` (greedy; greedy + 2 samples as the two calls it
  takes), greedy outputs checked equal; and with the default settings chat and the
  quality evaluation use (repetition penalty, no repeated 3-gram, line rules).
* scoring: `continuation_log_likelihoods` (`score_groups`: continuations packed after one
  copy of the context in rows of about 512 tokens) against one full forward per
  continuation, on the canary exposure's shape (1000 six-token secrets after a 12-token
  context; the per-continuation forwards on its first 100, scaled) and the ranking's (10
  replies of 3-48 tokens after 150). Checked within 1e-4.

`python benchmarks/bench_evaluation_lm.py [tiny|PATH]` (tiny: built here; PATH: a local
base model, e.g. the small profile's base-small folder). Times are the best of
BENCH_REPS (default 3) runs after a warm-up; the load average is printed. BENCH_EXPOSURE
(default 1000) sets the number of secrets.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.evaluation.lm_batches import continuation_log_likelihoods  # noqa: E402
from astrabot_pipeline.generation import GenerationSettings  # noqa: E402
from astrabot_pipeline.generation.decoding import generate  # noqa: E402
from astrabot_pipeline.training import build_tiny_base_model, load_base_model  # noqa: E402
from astrabot_pipeline.training.chat_template import stop_token_ids  # noqa: E402

FOODS = ["pizza", "tacos", "ramen", "curry", "dumplings", "bagels", "soup", "pie"]
NEW_TOKENS = 24


def chats() -> list[list[dict[str, str]]]:
    return [
        [
            {"role": "system", "content": "You are chatting with a friend."},
            {
                "role": "user",
                "content": f"want to get {FOODS[i % 8]} later? it has been {i} days since we "
                "met up at the place near the lake",
            },
        ]
        for i in range(64)
    ]


def best(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def transformers_generate(model, tokenizer, prompts, samples: int, batch: int):
    """model.generate over left-padded batches of `batch` prompts, cut at a stop token."""
    stops = list(stop_token_ids(tokenizer, model))
    pad = tokenizer.pad_token_id
    out = []
    for start in range(0, len(prompts), batch):
        chosen = prompts[start : start + batch]
        width = max(len(p) for p in chosen)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chosen])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chosen])
        options = dict(max_new_tokens=NEW_TOKENS, pad_token_id=pad, eos_token_id=stops, top_k=None)
        if samples:
            options |= dict(do_sample=True, temperature=0.8, top_p=1.0)
            options |= dict(num_return_sequences=samples)
        else:
            options |= dict(do_sample=False, temperature=None, top_p=None)
        new = model.generate(input_ids=ids, attention_mask=mask, **options)[:, width:].tolist()
        for tokens in new:
            ends = [i for i, t in enumerate(tokens) if t in stops]
            out.append(tokens[: ends[0]] if ends else tokens)
    return out


def score_separately(model, context, continuations) -> list[float]:
    sums = []
    with torch.no_grad():
        for tokens in continuations:
            logits = model(input_ids=torch.tensor([context + tokens])).logits[0]
            logp = torch.log_softmax(logits[len(context) - 1 : -1].float(), dim=-1)
            sums.append(float(logp.gather(1, torch.tensor(tokens)[:, None]).sum()))
    return sums


def main() -> None:
    reps = int(os.environ.get("BENCH_REPS", "3"))
    secrets = int(os.environ.get("BENCH_EXPOSURE", "1000"))
    which = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    with tempfile.TemporaryDirectory() as folder:
        if which == "tiny":
            texts = [m["content"] for chat in chats() for m in chat]
            which = str(build_tiny_base_model(texts * 3, Path(folder) / "tiny", vocab_size=600))
        model, tokenizer = load_base_model(which, quantize_4bit=False)
    model.eval()
    encoded = [
        tokenizer.apply_chat_template(
            chat[: 1 + i % 2], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        for i, chat in enumerate(chats()[:16])
    ]
    prompts = [list(ids)[: 20 + 7 * (i % 5)] for i, ids in enumerate(encoded)]
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")

    def report(row: tuple[str, float]) -> None:
        print(f"{row[1] * 1000:10.1f} ms  {row[0]}", flush=True)

    def ours(samples: int, greedy: bool = True):
        settings = GenerationSettings.unshaped(NEW_TOKENS, temperature=0.8 if samples else 0.0)
        return generate(
            model,
            tokenizer,
            prompts,
            settings,
            samples=max(samples, 1),
            with_greedy=greedy,
            batch_size=8,
        )

    def shaped(temperature: float):
        settings = GenerationSettings(NEW_TOKENS, temperature=temperature, seed=0, max_lines=3)
        return generate(model, tokenizer, prompts, settings, batch_size=8)

    greedy_ids = [c[0].reply_token_ids for c in ours(0)]
    equal = greedy_ids == transformers_generate(model, tokenizer, prompts, 0, 8)
    print(f"greedy: generation.decoding.generate == model.generate: {equal}")
    report(("generate greedy: generation.decoding.generate", best(lambda: ours(0), reps)))
    report(
        (
            "generate greedy: model.generate",
            best(lambda: transformers_generate(model, tokenizer, prompts, 0, 8), reps),
        )
    )
    report(
        (
            "generate greedy, default repetition control and line rules",
            best(lambda: shaped(0.0), reps),
        )
    )
    report(
        (
            "generate sampled (chat's defaults: T 0.7, top-p 0.9, rules)",
            best(lambda: shaped(0.7), reps),
        )
    )
    report(
        ("generate greedy + 2 sampled: generation.decoding.generate", best(lambda: ours(2), reps))
    )
    report(
        (
            "generate greedy + 2 sampled: model.generate x2",
            best(
                lambda: (
                    transformers_generate(model, tokenizer, prompts, 0, 8),
                    transformers_generate(model, tokenizer, prompts, 2, 8),
                ),
                reps,
            ),
        )
    )
    report(("generate 3 sampled: generation.decoding.generate", best(lambda: ours(3, False), reps)))
    report(
        (
            "generate 3 sampled: model.generate",
            best(lambda: transformers_generate(model, tokenizer, prompts, 3, 8), reps),
        )
    )

    generator = torch.Generator().manual_seed(0)
    vocab = len(tokenizer)

    def tokens(n: int) -> list[int]:
        return [int(x) for x in torch.randint(10, vocab, (n,), generator=generator)]

    workloads = {
        f"exposure {secrets}x6 after 12": (tokens(12), [tokens(6) for _ in range(secrets)]),
        "ranking 10x(3..48) after 150": (
            tokens(150),
            [tokens(int(n)) for n in torch.randint(3, 48, (10,), generator=generator)],
        ),
    }
    for name, (context, continuations) in workloads.items():
        sample = continuations[:100]
        fast = continuation_log_likelihoods(model, context, sample)
        slow = score_separately(model, context, sample)
        worst = max(abs(a - b) for a, b in zip(fast, slow, strict=True))
        print(f"{name}: max |shared - separate| = {worst:.2e} nats")
        report(
            (
                f"score {name}: continuation_log_likelihoods",
                best(
                    lambda c=context, s=continuations: continuation_log_likelihoods(model, c, s),
                    reps,
                ),
            )
        )
        scale = len(continuations) / len(sample)
        report(
            (
                f"score {name}: one forward per continuation",
                scale * best(lambda c=context, s=sample: score_separately(model, c, s), 1),
            )
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
