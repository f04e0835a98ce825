"""Builds a Trace: greedy decoding of one sentence, with per-step records and per-layer, per-head matrices."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.decoding import default_max_new_tokens, greedy_decode
from model.interventions import HeadRef, Interventions
from model.masks import causal_mask, decoder_mask, padding_mask
from model.recording import AttentionRecorder, split_by_side, stacked_weights
from model.speculative import Proposer, decode_and_verify, step_records
from model.trace import AttentionStages, SequenceView, StepRecord, Trace, stage_key
from model.transformer import Transformer


def _sequence_view(model: Transformer, ids: torch.Tensor, token_text: Callable[[int], str]) -> SequenceView:
    parts = model.embed(ids)
    id_list = ids[0].tolist()
    return SequenceView(
        ids=tuple(id_list),
        tokens=tuple(token_text(i) for i in id_list),
        token_embeddings=parts.token[0].float().numpy(),
        positional=parts.positional.float().numpy(),
        summed=parts.summed[0].float().numpy(),
    )


def _stages_from(recorder: AttentionRecorder) -> dict[str, AttentionStages]:
    return {
        stage_key(site, head): AttentionStages(
            site=site, head=head, **{name: value[0].numpy() for name, value in tensors.items()}
        )
        for (site, head), tensors in recorder.stages.items()
    }


@dataclass(frozen=True)
class _Decoded:
    """What the trace needs from decoding: tokens, per-step records and the full attention matrices.

    logits float32 [T, V]; recorder: encoder weights [1, H, S, S] and the stages of every head asked for;
    decoder_self_attn [L, H, T, T]; cross_attn [L, H, T, S].
    """

    output_ids: list[int]
    steps: list[StepRecord]
    logits: np.ndarray
    stop_reason: str
    recorder: AttentionRecorder
    decoder_self_attn: np.ndarray
    cross_attn: np.ndarray


def _decode(
    model: Transformer,
    source: torch.Tensor,
    max_new_tokens: int,
    heads: tuple[tuple[str, int], ...],
    interventions: Interventions | None,
    top_k: int,
    token_text: Callable[[int], str],
    proposer: Proposer | None,
    step_by_step: bool,
) -> _Decoded:
    """Draft and verify (model.speculative); step by step with the cache when asked or if that has not settled."""
    config = model.config
    # The int8 draft runs on the CPU only; elsewhere decoding goes step by step.
    use_draft = not step_by_step and (source.device.type == "cpu" or proposer is not None)
    verified = decode_and_verify(model, source, max_new_tokens, heads, interventions, proposer) if use_draft else None
    if verified is not None:
        steps, decoder_self_attn, cross_attn = step_records(
            verified.output_ids,
            verified.logits,
            verified.recorder,
            config.n_decoder_layers,
            config.bos_id,
            config.eos_id,
            top_k,
            token_text,
        )
        return _Decoded(
            verified.output_ids,
            steps,
            verified.logits.numpy(),
            verified.stop_reason,
            verified.recorder,
            decoder_self_attn,
            cross_attn,
        )
    encoder_heads, decoder_heads = split_by_side(heads)
    result = greedy_decode(
        model,
        source,
        max_new_tokens=max_new_tokens,
        top_k=top_k,
        record=True,
        interventions=interventions,
        encoder_stage_heads=encoder_heads,
        token_text=token_text,
    )
    recorder = result.encoder_recorder
    assert recorder is not None
    if decoder_heads:
        stage_recorder = AttentionRecorder(keep_weights=False, stage_heads=decoder_heads)
        target = torch.tensor([[config.bos_id, *result.output_ids[:-1]]], device=source.device)
        source_bias = model.source_bias(source)
        memory = model.encode(source, source_bias, None, interventions)
        model.decode(target, memory, source_bias, None, stage_recorder, interventions)
        recorder.stages.update(stage_recorder.stages)
    decoder_self_attn, cross_attn = _assemble_decoder_matrices(result.steps, source.size(1))
    return _Decoded(
        result.output_ids, result.steps, result.logits, result.stop_reason, recorder, decoder_self_attn, cross_attn
    )


def _assemble_decoder_matrices(steps: Sequence[StepRecord], source_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack each step's new rows into full matrices: self [L, H, T, T] (zero above the diagonal), cross
    [L, H, T, S]."""
    n_steps = len(steps)
    layers, heads = steps[0].self_attn.shape[:2]
    self_attn = np.zeros((layers, heads, n_steps, n_steps), dtype=np.float32)
    cross_attn = np.zeros((layers, heads, n_steps, source_length), dtype=np.float32)
    for record in steps:
        t = record.step
        self_attn[:, :, t, : t + 1] = record.self_attn
        cross_attn[:, :, t, :] = record.cross_attn
    return self_attn, cross_attn


@torch.inference_mode()
def trace_sentence(
    model: Transformer,
    source_ids: Sequence[int],
    token_text: Callable[[int], str] = str,
    detokenize: Callable[[list[int]], str] | None = None,
    top_k: int = 5,
    stage_heads: Sequence[HeadRef] = (),
    interventions: Interventions | None = None,
    max_new_tokens: int | None = None,
    proposer: Proposer | None = None,
    step_by_step: bool = False,
) -> Trace:
    """Translate one sentence greedily and return everything about it.

    source_ids: the encoder input (special tokens included). stage_heads: heads whose scaled dot-product stages
    are kept. Every number comes from float32 passes of the model; the tokens are found by an int8 draft and
    confirmed by one teacher-forced pass (model.speculative), which gives each step's rows exactly as step-by-step
    decoding would. proposer: replaces the draft (tests use it to force disagreements). step_by_step: decode
    one token per step with the key/value cache instead (same result; kept as the reference and for benchmarks).
    """
    model.eval()
    if len(source_ids) == 0:
        raise ValueError("the source sentence has no tokens")
    if len(source_ids) > model.config.max_len:
        raise ValueError(f"the source has {len(source_ids)} tokens; this model takes at most {model.config.max_len}")
    device = next(model.parameters()).device
    source = torch.tensor([list(source_ids)], dtype=torch.long, device=device)
    heads = tuple((ref.site, ref.head) for ref in stage_heads)
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source.size(1))
    decoded = _decode(model, source, max_new_tokens, heads, interventions, top_k, token_text, proposer, step_by_step)
    n_encoder = model.config.n_encoder_layers
    encoder_self_attn = stacked_weights(decoded.recorder, [f"encoder.{i}.self_attn" for i in range(n_encoder)])
    decoder_input_ids = [model.config.bos_id, *decoded.output_ids[:-1]]
    target = torch.tensor([decoder_input_ids], dtype=torch.long, device=device)
    generated = [i for i in decoded.output_ids if i != model.config.eos_id]
    translation = detokenize(generated) if detokenize is not None else " ".join(token_text(i) for i in generated)
    return Trace(
        source=_sequence_view(model, source, token_text),
        target=_sequence_view(model, target, token_text),
        output_ids=tuple(decoded.output_ids),
        output_tokens=tuple(token_text(i) for i in decoded.output_ids),
        translation=translation,
        stop_reason=decoded.stop_reason,
        encoder_self_attn=encoder_self_attn,
        decoder_self_attn=decoded.decoder_self_attn,
        cross_attn=decoded.cross_attn,
        source_padding_mask=padding_mask(source, model.config.pad_id)[0].numpy(),
        causal_mask=causal_mask(target.size(1)).numpy(),
        decoder_mask=decoder_mask(target, model.config.pad_id)[0].numpy(),
        logits=decoded.logits,
        steps=tuple(decoded.steps),
        stages=_stages_from(decoded.recorder),
    )
