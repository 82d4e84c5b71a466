"""Eval loss and greedy generation used to measure an adapter (before vs after training)."""

from __future__ import annotations

import os
from typing import Any

from training.chat_tokens import IGNORE_INDEX, EncodedExample, prompt_ids


def collate(batch: list[EncodedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors ``input_ids``, ``attention_mask`` and ``labels`` for one batch."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def _core_model(model: Any) -> Any:
    """The transformers model inside a DDP wrapper (``.module``) and/or a peft wrapper."""
    core = getattr(model, "module", model)
    return core.get_base_model() if hasattr(core, "get_base_model") else core


def token_loss_sum(model: Any, batch: dict[str, Any], *, head_only: bool = True) -> tuple[Any, int]:
    """(sum of next-token cross-entropy over labelled tokens, number of labelled tokens).

    With ``head_only`` the output head runs only on the labelled positions (assistant tokens), which
    saves a large share of the compute of a small model with a big vocabulary: the forward pass goes
    through ``model`` itself (so a DDP wrapper still synchronises gradients) with
    ``logits_to_keep=1``, and the head is applied to the final hidden states of the kept positions.
    Models without that interface, soft-capped logits, and sharded models (FSDP, DeepSpeed ZeRO-3:
    ``head_only=False``) take the plain full forward pass.
    """
    import inspect

    import torch.nn.functional as F

    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    count = int(keep.sum())
    core = _core_model(model)
    head = core.get_output_embeddings() if hasattr(core, "get_output_embeddings") else None
    usable = (
        head_only
        and head is not None
        and not getattr(core.config, "final_logit_softcapping", None)
        and "logits_to_keep" in inspect.signature(core.forward).parameters
    )
    if usable and head is not None:
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
            logits_to_keep=1,
            use_cache=False,
        )
        hidden = out.hidden_states[-1]  # after the final norm, as the head sees it
        logits = head(hidden[:, :-1][keep]).float()
        return F.cross_entropy(logits, labels[keep], reduction="sum"), count
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    shift_logits = logits[:, :-1, :].float()
    loss = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return loss, count


def model_device(model: Any) -> Any:
    """The device of the model's first parameter (where its inputs must go)."""
    return next(model.parameters()).device


def eval_loss(
    model: Any, examples: list[EncodedExample], pad_id: int, batch_size: int = 8, *, head_only: bool = True
) -> float | None:
    """Mean cross-entropy per assistant token over ``examples`` (None when there are none)."""
    import torch

    if not examples:
        return None
    was_training = model.training
    model.eval()
    device = model_device(model)
    total, count = 0.0, 0
    by_length = sorted(examples, key=lambda e: len(e.input_ids))  # less padding per batch
    with torch.no_grad():
        for start in range(0, len(by_length), batch_size):
            batch = {k: v.to(device) for k, v in collate(by_length[start : start + batch_size], pad_id).items()}
            loss, n = token_loss_sum(model, batch, head_only=head_only)
            total += float(loss)
            count += n
    if was_training:
        model.train()
    return total / max(count, 1)


def generate_replies(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int = 128, batch_size: int = 8
) -> list[str]:
    """Greedy replies to chat prompts, generated in left-padded batches."""
    import torch

    if not prompts:
        return []
    was_training = model.training
    model.eval()
    threads = torch.get_num_threads()
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        # Oversubscribed machine: decoding is thousands of tiny ops, and OpenMP's thread barrier
        # then waits on a descheduled second thread at every one of them (measured: minutes per reply).
        torch.set_num_threads(1)
    replies: list[str] = []
    pad_id = tokenizer.pad_token_id
    for start in range(0, len(prompts), batch_size):
        encoded = [prompt_ids(p, tokenizer) for p in prompts[start : start + batch_size]]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        device = model_device(model)
        input_ids, attention = input_ids.to(device), attention.to(device)
        with torch.no_grad():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=pad_id,
                eos_token_id=tokenizer.eos_token_id,
                use_cache=True,
            )
        for row in range(len(encoded)):
            replies.append(tokenizer.decode(output[row, width:], skip_special_tokens=True).strip())
    torch.set_num_threads(threads)
    if was_training:
        model.train()
    return replies
