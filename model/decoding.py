"""Greedy decoding: step by step with the key/value cache and a record per step, batched for evaluation, and the
uncached reference that recomputes the whole prefix each step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from model.interventions import Interventions
from model.recording import AttentionRecorder
from model.trace import StepRecord
from model.transformer import Transformer

STOP_EOS = "eos"
STOP_LENGTH = "max_length"


@dataclass(frozen=True)
class GreedyResult:
    """Outcome of step-by-step greedy decoding of one sentence.

    output_ids: the chosen tokens, EOS included when it was chosen. steps: one record per step.
    logits: float32 [n_steps, V], the next-token logits of each step, -inf at tokens never emitted (<pad>, <s>).
    stop_reason: STOP_EOS or STOP_LENGTH.
    """

    output_ids: list[int]
    steps: list[StepRecord]
    logits: np.ndarray
    stop_reason: str
    encoder_recorder: AttentionRecorder | None


def never_emitted(model: Transformer) -> list[int]:
    """Tokens the decoder must never choose: <pad> (it would read as masked padding) and <s> (only ever input)."""
    return [model.config.pad_id, model.config.bos_id]


def next_token_logits(logits: torch.Tensor, banned: list[int]) -> torch.Tensor:
    """logits [..., V] as float32 with the banned tokens set to -inf, so argmax and top-k never pick them."""
    logits = logits.float().clone()
    logits[..., banned] = float("-inf")
    return logits


def default_max_new_tokens(model: Transformer, source_length: int) -> int:
    """A length limit that never stops a sensible translation: source length + 50, within max_len."""
    return max(1, min(source_length + 50, model.config.max_len - 1))


def check_max_new_tokens(model: Transformer, max_new_tokens: int) -> None:
    """Raise ValueError unless 1 <= max_new_tokens <= max_len - 1 (BOS and the outputs must fit the positions)."""
    if not 1 <= max_new_tokens <= model.config.max_len - 1:
        raise ValueError(f"max_new_tokens must be in [1, {model.config.max_len - 1}], got {max_new_tokens}")


def _new_rows(recorder: AttentionRecorder, sites: list[str]) -> np.ndarray:
    """The one new query row of each site's weights [1, H, 1, T_k], stacked over the sites: [L, H, T_k]."""
    rows = torch.stack([recorder.weights[site] for site in sites])  # [L, 1, H, 1, T_k]
    return rows.view(rows.size(0), rows.size(2), rows.size(4)).numpy()


@torch.inference_mode()
def greedy_decode(
    model: Transformer,
    source_ids: torch.Tensor,
    max_new_tokens: int | None = None,
    top_k: int = 5,
    record: bool = True,
    interventions: Interventions | None = None,
    encoder_stage_heads: tuple[tuple[str, int], ...] = (),
    token_text: Callable[[int], str] = str,
) -> GreedyResult:
    """Decode one sentence, source_ids [1, S], one token per step, reusing cached keys and values.

    The encoder runs once. Each step feeds only the newest decoder position. With record=True each step keeps
    the new row of every decoder self-attention [L, H, t+1] and cross-attention [L, H, S] and the top-k tokens.
    """
    if source_ids.dim() != 2 or source_ids.size(0) != 1:
        raise ValueError(f"greedy_decode takes one sentence, source_ids [1, S]; got shape {tuple(source_ids.shape)}")
    model.eval()
    config = model.config
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    encoder_recorder = AttentionRecorder(stage_heads=encoder_stage_heads) if record else None
    source_bias = model.source_bias(source_ids)
    memory = model.encode(source_ids, source_bias, encoder_recorder, interventions)
    cache = model.new_cache()
    decoder_input = [config.bos_id]
    steps: list[StepRecord] = []
    step_logits: list[torch.Tensor] = []
    stop_reason = STOP_LENGTH
    self_sites = [f"decoder.{i}.self_attn" for i in range(config.n_decoder_layers)]
    cross_sites = [f"decoder.{i}.cross_attn" for i in range(config.n_decoder_layers)]
    next_input = torch.tensor([[config.bos_id]], dtype=torch.long, device=source_ids.device)
    banned = never_emitted(model)
    for step in range(max_new_tokens):
        recorder = AttentionRecorder() if record else None
        raw = model.decode(next_input, memory, source_bias, cache, recorder, interventions)[0, -1]
        logits = next_token_logits(raw, banned)
        chosen = int(torch.argmax(logits))
        step_logits.append(logits)
        if recorder is not None:
            probabilities = torch.softmax(logits, dim=-1)
            top_probs, top_ids = torch.topk(probabilities, min(top_k, logits.numel()))
            top_id_list = top_ids.tolist()
            steps.append(
                StepRecord(
                    step=step,
                    prefix_ids=tuple(decoder_input),
                    prefix_tokens=tuple(token_text(i) for i in decoder_input),
                    self_attn=_new_rows(recorder, self_sites),
                    cross_attn=_new_rows(recorder, cross_sites),
                    top_ids=tuple(top_id_list),
                    top_tokens=tuple(token_text(i) for i in top_id_list),
                    top_probs=top_probs.numpy(),
                    chosen_id=chosen,
                    chosen_token=token_text(chosen),
                    chosen_prob=float(probabilities[chosen]),
                    is_eos=chosen == config.eos_id,
                )
            )
        decoder_input.append(chosen)
        if chosen == config.eos_id:
            stop_reason = STOP_EOS
            break
        next_input = torch.tensor([[chosen]], dtype=torch.long, device=source_ids.device)
    return GreedyResult(
        output_ids=decoder_input[1:],
        steps=steps,
        logits=torch.stack(step_logits).numpy(),
        stop_reason=stop_reason,
        encoder_recorder=encoder_recorder,
    )


@torch.inference_mode()
def greedy_decode_uncached(
    model: Transformer, source_ids: torch.Tensor, max_new_tokens: int | None = None
) -> list[int]:
    """The textbook loop: at every step run the decoder over the whole prefix again. source_ids [1, S].

    Returns the chosen tokens, EOS included when chosen. Kept as the reference the cache is checked against.
    """
    model.eval()
    config = model.config
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    source_bias = model.source_bias(source_ids)
    memory = model.encode(source_ids, source_bias)
    decoder_input = torch.tensor([[config.bos_id]], dtype=torch.long, device=source_ids.device)
    banned = never_emitted(model)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model.decode(decoder_input, memory, source_bias)[0, -1], banned)
        chosen = int(torch.argmax(logits))
        decoder_input = torch.cat((decoder_input, decoder_input.new_tensor([[chosen]])), dim=1)
        if chosen == config.eos_id:
            break
    return decoder_input[0, 1:].tolist()


@torch.inference_mode()
def greedy_decode_batch(
    model: Transformer, source_ids: torch.Tensor, max_new_tokens: int | None = None
) -> list[list[int]]:
    """Batched greedy decoding for evaluation, no trace. source_ids [B, S], right-padded with pad_id.

    Returns, per sentence, the chosen tokens up to (not including) EOS.
    """
    model.eval()
    config = model.config
    batch = source_ids.size(0)
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    source_bias = model.source_bias(source_ids)
    memory = model.encode(source_ids, source_bias)
    cache = model.new_cache()
    next_input = torch.full((batch, 1), config.bos_id, dtype=torch.long, device=source_ids.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source_ids.device)
    chosen_columns: list[torch.Tensor] = []
    banned = never_emitted(model)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model.decode(next_input, memory, source_bias, cache)[:, -1], banned)
        chosen = logits.argmax(dim=-1).masked_fill(finished, config.pad_id)
        chosen_columns.append(chosen)
        finished |= chosen == config.eos_id
        if bool(finished.all()):
            break
        next_input = chosen.unsqueeze(1)
    outputs: list[list[int]] = []
    for row in torch.stack(chosen_columns, dim=1).tolist():
        tokens: list[int] = []
        for token in row:
            if token in (config.eos_id, config.pad_id):
                break
            tokens.append(token)
        outputs.append(tokens)
    return outputs
