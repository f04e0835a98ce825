"""Builds a Trace: step-by-step greedy decoding of one sentence, assembled into per-layer, per-head matrices."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from model.decoding import greedy_decode
from model.interventions import HeadRef, Interventions
from model.masks import causal_mask, decoder_mask, padding_mask
from model.recording import AttentionRecorder
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


def _stages_from(recorder: AttentionRecorder) -> dict[str, AttentionStages]:
    return {
        stage_key(site, head): AttentionStages(
            site=site, head=head, **{name: value[0].numpy() for name, value in tensors.items()}
        )
        for (site, head), tensors in recorder.stages.items()
    }


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
) -> Trace:
    """Translate one sentence greedily and return everything about it.

    source_ids: the encoder input (special tokens included). stage_heads: heads whose scaled dot-product stages
    are kept; decoder stages come from one teacher-forced pass over the final decoder input.
    """
    model.eval()
    if len(source_ids) == 0:
        raise ValueError("the source sentence has no tokens")
    if len(source_ids) > model.config.max_len:
        raise ValueError(f"the source has {len(source_ids)} tokens; this model takes at most {model.config.max_len}")
    device = next(model.parameters()).device
    source = torch.tensor([list(source_ids)], dtype=torch.long, device=device)
    encoder_heads = tuple((ref.site, ref.head) for ref in stage_heads if ref.kind == "encoder.self_attn")
    decoder_heads = tuple((ref.site, ref.head) for ref in stage_heads if ref.kind != "encoder.self_attn")
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
    assert result.encoder_recorder is not None
    n_encoder = model.config.n_encoder_layers
    encoder_self_attn = torch.stack(
        [result.encoder_recorder.weights[f"encoder.{i}.self_attn"][0] for i in range(n_encoder)]
    ).numpy()
    stages = _stages_from(result.encoder_recorder)
    decoder_input_ids = [model.config.bos_id, *result.output_ids[:-1]]
    target = torch.tensor([decoder_input_ids], dtype=torch.long, device=device)
    if decoder_heads:
        recorder = AttentionRecorder(keep_weights=False, stage_heads=decoder_heads)
        model.decode(
            target,
            model.encode(source, None, None, interventions),
            model.source_bias(source),
            None,
            recorder,
            interventions,
        )
        stages.update(_stages_from(recorder))
    decoder_self_attn, cross_attn = _assemble_decoder_matrices(result.steps, source.size(1))
    generated = [i for i in result.output_ids if i != model.config.eos_id]
    translation = detokenize(generated) if detokenize is not None else " ".join(token_text(i) for i in generated)
    return Trace(
        source=_sequence_view(model, source, token_text),
        target=_sequence_view(model, target, token_text),
        output_ids=tuple(result.output_ids),
        output_tokens=tuple(token_text(i) for i in result.output_ids),
        translation=translation,
        stop_reason=result.stop_reason,
        encoder_self_attn=encoder_self_attn,
        decoder_self_attn=decoder_self_attn,
        cross_attn=cross_attn,
        source_padding_mask=padding_mask(source, model.config.pad_id)[0].numpy(),
        causal_mask=causal_mask(target.size(1)).numpy(),
        decoder_mask=decoder_mask(target, model.config.pad_id)[0].numpy(),
        logits=result.logits,
        steps=tuple(result.steps),
        stages=stages,
    )
