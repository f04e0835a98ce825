"""Greedy decoding of one sentence for the trace: the int8 draft proposes, one float32 pass decides.

Step-by-step decoding reads every weight once per token, which on a small CPU costs far more than the arithmetic.
Here the draft (`model.draft`) proposes the whole output, then one teacher-forced float32 pass of the real model
over that output gives, at every position at once, exactly what step-by-step decoding computes there (causal
masking means position t never sees later tokens). Each position's argmax is checked against the proposal; at
the first disagreement the float32 token is kept and the draft continues from it. Every token returned is the
argmax of the float32 logits returned with it, so the result is greedy decoding of the real model; the draft only
decides how fast it is found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from model.decoding import STOP_EOS, STOP_LENGTH, check_max_new_tokens, never_emitted, next_token_logits
from model.draft import draft_for
from model.interventions import Interventions
from model.recording import AttentionRecorder, split_by_side, stacked_weights
from model.trace import StepRecord
from model.transformer import Transformer

MAX_PASSES = 4


class Proposer(Protocol):
    """Anything that proposes greedy tokens: the model's int8 DraftDecoder, or in tests a list with planted
    mistakes. Same arguments and result as DraftDecoder.propose."""

    def propose(
        self,
        memory: torch.Tensor,
        source_bias: torch.Tensor,
        prefix: list[int],
        max_new_tokens: int,
        interventions: Interventions | None = None,
    ) -> list[int]: ...


@dataclass(frozen=True)
class VerifiedDecoding:
    """Greedy decoding found by draft and verification, with the float32 pass that confirmed it.

    output_ids: chosen tokens, EOS included when chosen. logits float32 [T, V] (-inf at never-emitted tokens).
    recorder: the weights of every site (encoder and decoder) and the stages asked for, from the confirming pass;
    decoder weights are [1, H, T, T_k] over the decoder input BOS + output_ids[:-1].
    passes: float32 teacher-forced passes it took (1 when the draft was right throughout).
    """

    output_ids: list[int]
    logits: torch.Tensor
    recorder: AttentionRecorder
    stop_reason: str
    passes: int


def _first_disagreement(chosen: list[int], proposal: list[int]) -> int | None:
    for position in range(len(proposal)):
        if chosen[position] != proposal[position]:
            return position
    return None


def _finished(tokens: list[int], eos_id: int, max_new_tokens: int) -> bool:
    return bool(tokens) and (tokens[-1] == eos_id or len(tokens) >= max_new_tokens)


@torch.inference_mode()
def decode_and_verify(
    model: Transformer,
    source_ids: torch.Tensor,
    max_new_tokens: int,
    stage_heads: tuple[tuple[str, int], ...] = (),
    interventions: Interventions | None = None,
    proposer: Proposer | None = None,
) -> VerifiedDecoding | None:
    """Greedy decoding of source_ids [1, S] to at most max_new_tokens, every token confirmed in float32.

    proposer: where proposals come from (default: the model's int8 draft). Returns None if the proposals and the
    float32 passes have not agreed after MAX_PASSES passes (two float32 roundings of a near tie can keep
    disagreeing); the caller then decodes step by step.
    """
    config = model.config
    check_max_new_tokens(model, max_new_tokens)
    if source_ids.dim() != 2 or source_ids.size(0) != 1:
        raise ValueError(f"decode_and_verify takes one sentence, source_ids [1, S]; got {tuple(source_ids.shape)}")
    proposer = proposer or draft_for(model)
    banned = never_emitted(model)
    source_bias = model.source_bias(source_ids)
    encoder_heads, decoder_heads = split_by_side(stage_heads)
    encoder_recorder = AttentionRecorder(stage_heads=encoder_heads)
    memory = model.encode(source_ids, source_bias, encoder_recorder, interventions)
    accepted: list[int] = []
    for passes in range(1, MAX_PASSES + 1):
        proposal = list(accepted)
        if not _finished(accepted, config.eos_id, max_new_tokens):
            proposal += proposer.propose(memory, source_bias, [config.bos_id, *accepted], max_new_tokens, interventions)
        decoder_input = torch.tensor([[config.bos_id, *proposal[:-1]]], device=source_ids.device)
        recorder = AttentionRecorder(stage_heads=decoder_heads)
        logits = next_token_logits(
            model.decode(decoder_input, memory, source_bias, None, recorder, interventions)[0], banned
        )
        chosen = logits.argmax(dim=-1).tolist()
        disagreement = _first_disagreement(chosen, proposal)
        if disagreement is None and not _finished(proposal, config.eos_id, max_new_tokens):
            accepted = proposal  # every proposed token confirmed, but the proposer stopped short
            continue
        if disagreement is None:
            recorder.weights.update(encoder_recorder.weights)
            recorder.stages.update(encoder_recorder.stages)
            stop = STOP_EOS if proposal[-1] == config.eos_id else STOP_LENGTH
            return VerifiedDecoding(proposal, logits, recorder, stop, passes)
        accepted = [*proposal[:disagreement], chosen[disagreement]]
    return None


def step_records(
    output_ids: list[int],
    logits: torch.Tensor,
    recorder: AttentionRecorder,
    n_decoder_layers: int,
    bos_id: int,
    eos_id: int,
    top_k: int,
    token_text: Callable[[int], str],
) -> tuple[list[StepRecord], np.ndarray, np.ndarray]:
    """The per-step records of a decoding, read off one teacher-forced pass.

    logits [T, V]; recorder holds decoder weights [1, H, T, T_k]. Returns (steps, decoder self-attention
    [L, H, T, T], cross-attention [L, H, T, S]); step t's rows are row t of those matrices.
    """
    self_attn = stacked_weights(recorder, [f"decoder.{i}.self_attn" for i in range(n_decoder_layers)])
    cross_attn = stacked_weights(recorder, [f"decoder.{i}.cross_attn" for i in range(n_decoder_layers)])
    probabilities = torch.softmax(logits, dim=-1)
    top_probs, top_ids = torch.topk(probabilities, min(top_k, logits.size(-1)), dim=-1)
    top_id_rows = top_ids.tolist()
    chosen_probs = probabilities.gather(1, torch.tensor(output_ids)[:, None])[:, 0].tolist()
    top_prob_rows = top_probs.numpy()
    decoder_input = [bos_id, *output_ids]
    steps = []
    for t, chosen in enumerate(output_ids):
        prefix = decoder_input[: t + 1]
        steps.append(
            StepRecord(
                step=t,
                prefix_ids=tuple(prefix),
                prefix_tokens=tuple(token_text(i) for i in prefix),
                self_attn=self_attn[:, :, t, : t + 1].copy(),
                cross_attn=cross_attn[:, :, t, :].copy(),
                top_ids=tuple(top_id_rows[t]),
                top_tokens=tuple(token_text(i) for i in top_id_rows[t]),
                top_probs=top_prob_rows[t].copy(),
                chosen_id=chosen,
                chosen_token=token_text(chosen),
                chosen_prob=chosen_probs[t],
                is_eos=chosen == eos_id,
            )
        )
    return steps, self_attn, cross_attn
