"""The trainer a stage runs: TRL's SFTTrainer, made to score only the owner's tokens
cheaply on a CPU, with the LoRA and training arguments a `StageConfig` sets."""

from __future__ import annotations

from pathlib import Path

from astrabot_pipeline.training.base_model import cuda_available
from astrabot_pipeline.training.members import ConsumedExamples
from astrabot_pipeline.training.precision import Precision
from astrabot_pipeline.training.stage_config import StageConfig

# Attention implementations (besides FlashAttention's, see `padding_free_attention`) that
# keep the examples of a padding-free batch apart.
PADDING_FREE_ATTENTION = ("sdpa", "eager")


def lora_config(config: StageConfig):
    """The new adapter's LoRA settings (a stage continuing an adapter keeps that one's)."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def training_args(
    config: StageConfig,
    run_dir: Path,
    train_examples: int,
    padding_free: bool,
    precision: Precision,
):
    """TRL's arguments for a stage: steps, schedule, batching, precision, checkpoints."""
    from trl import SFTConfig

    use_cuda = cuda_available()
    evaluate_during = config.eval_steps > 0
    return SFTConfig(
        output_dir=str(run_dir),
        max_steps=-1 if config.num_train_epochs is not None else config.max_steps,
        num_train_epochs=config.num_train_epochs or 1.0,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        # A float below 1 is a fraction of the total steps (transformers 5 has no warmup_ratio).
        warmup_steps=config.warmup_ratio,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        # Padding-free: each step's examples flattened into one row, no padding and no
        # packing, so a step still holds `batch_size` examples. TRL does not truncate
        # there (it refuses a max_length); the records arrive already trimmed to it
        # (token_budget.py). Padded batches are truncated by TRL and grouped by length so
        # that little padding is computed.
        max_length=None if padding_free else config.max_length,
        padding_free=padding_free,
        train_sampling_strategy="random" if padding_free else "group_by_length",
        assistant_only_loss=config.assistant_only_loss,
        seed=config.seed,
        data_seed=config.seed,
        # bf16 where the GPU has it, fp16 on older GPUs; on a CPU, bf16 where it pays.
        bf16=precision.bf16,
        fp16=precision.fp16,
        # Recomputing activations only pays off for a real model on a GPU.
        activation_checkpointing=use_cuda,
        use_cpu=not use_cuda,
        eval_strategy="steps" if evaluate_during else "no",
        eval_steps=config.eval_steps if evaluate_during else None,
        save_strategy="steps",
        save_steps=config.checkpoint_interval(train_examples),
        save_total_limit=2,
        load_best_model_at_end=evaluate_during,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=config.logging_interval(train_examples),
        # A padding-free row holds no padding; "non_padding" would also drop every token
        # equal to the pad token, which is <|im_end|> for SmolLM2.
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        push_to_hub=False,
    )


def padding_free_attention(model) -> bool:
    """True when the loaded model's attention keeps examples flattened into one row apart.

    TRL's padding-free collator concatenates a batch into one row whose position ids restart
    at 0 for every example, with no attention mask. FlashAttention's variable-length kernels
    take those boundaries directly; with SDPA and eager attention, transformers builds a
    block-diagonal causal mask from the restarts (`masking_utils.find_packed_sequence_indices`,
    used when there is no attention mask and no cache: TRL passes `use_cache=False`). Measured
    on SmolLM2-135M (Llama) and the tiny Qwen2/Qwen3 models, on a CPU: per-token logits of
    packed examples equal each example run alone (max difference 8e-5 in fp32, as for a padded
    batch), and TRL's loss and LoRA gradients equal the padded batch's.

    A mask does not skip work, though: SDPA/eager attention over the flattened row costs
    (sum of lengths)^2 instead of batch x longest^2. On a CPU, with short rows (the `small`
    profile: 2 examples of ~100 tokens), that is noise beside the padding saved; on CUDA a
    row of 4 x 1024 tokens would pay 4x the attention work and a 4096^2 mask, unmeasured, so
    there only FlashAttention goes padding-free. Any other implementation (flex, paged,
    custom kernels), and SDPA/eager on CUDA, get padded, length-grouped batches.
    """
    implementation = str(getattr(model.config, "_attn_implementation", "") or "")
    if "flash" in implementation:
        return True
    return implementation in PADDING_FREE_ATTENTION and not cuda_available()


def _scored_positions(labels):
    """A (batch, length) mask of the positions whose next token is scored (label not -100)."""
    import torch

    scored = torch.zeros_like(labels, dtype=torch.bool)
    scored[:, :-1] = labels[:, 1:] != -100
    return scored


def owner_token_trainer():
    """SFTTrainer whose loss projects only the scored positions through the LM head.

    TRL's fused LM head scores only those positions on CUDA/XPU, but on other devices it
    projects every position (and projects again in the backward pass). With the loss on the
    owner's tokens only, most positions are context: on a CPU this class asks the model for
    the logits of the scored positions alone (`logits_to_keep`), then takes the same
    token-mean cross-entropy and logs the same entropy and token accuracy.
    """
    import torch
    from trl import SFTTrainer

    class OwnerTokenSFTTrainer(SFTTrainer):
        # Set by the stage: records which training examples the steps consume (members.py).
        consumed: ConsumedExamples | None = None

        def get_train_dataloader(self):
            loader = super().get_train_dataloader()
            if self.consumed is not None:
                self.consumed.hook(loader.dataset)
            return loader

        def _save(self, output_dir=None, state_dict=None):
            # Every save of the adapter (a checkpoint's comes before its trainer state)
            # records the examples trained on so far beside it.
            super()._save(output_dir, state_dict)
            if self.consumed is not None and output_dir is not None:
                self.consumed.write(output_dir, self.state.global_step)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels")
            if return_outputs or labels is None or labels.device.type in ("cuda", "xpu"):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            assert self.model is not None  # the Trainer was built with one
            mode = "train" if self.model.training else "eval"
            scored = _scored_positions(labels)
            targets = labels[:, 1:][scored[:, :-1]]
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            logits = model(**model_inputs, use_cache=False, logits_to_keep=scored).logits
            logits = logits.reshape(-1, logits.shape[-1]).float()
            count = targets.numel() if num_items_in_batch is None else num_items_in_batch
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
            loss = loss / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            with torch.no_grad():
                log_probs = torch.log_softmax(logits, dim=-1)
                entropy = -(log_probs.exp() * log_probs).sum(-1)
                correct = logits.argmax(-1) == targets
                valid = max(targets.numel(), 1)
                self._metrics[mode]["entropy"].append(entropy.sum().item() / valid)
                self._metrics[mode]["mean_token_accuracy"].append(correct.sum().item() / valid)
            if mode == "train":
                if "attention_mask" in inputs:
                    self._total_train_tokens += int(inputs["attention_mask"].sum())
                else:
                    self._total_train_tokens += inputs["input_ids"].numel()
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return OwnerTokenSFTTrainer


def build_trainer(
    model,
    tokenizer,
    config: StageConfig,
    run_dir: Path,
    train: list[dict],
    validation: list[dict],
    *,
    padding_free: bool,
    precision: Precision,
    peft_config,
    callbacks: list | None,
):
    """The stage's trainer on `train` and `validation`, writing its checkpoints to
    `run_dir` and printing nothing itself (progress goes to its `callbacks`)."""
    from datasets import Dataset
    from transformers import PrinterCallback

    trainer = owner_token_trainer()(
        model=model,
        args=training_args(config, run_dir, len(train), padding_free, precision),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(validation),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    # With tqdm off the Trainer prints every log dict to stdout; `progress` gets them instead.
    trainer.remove_callback(PrinterCallback)
    if not cuda_available():
        # PyTorch's CPU generator is serial: LoRA's dropout masks from far fewer draws.
        from astrabot_pipeline.training.lora_dropout import use_poisson_dropout

        use_poisson_dropout(trainer.model)
    return trainer
