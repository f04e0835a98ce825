"""Builds a Trace: greedy decoding finds the tokens, then one recorded teacher-forced pass gives every inner number.

Decoding (`model.decode.greedy_decode`, the key/value cache, nothing recorded) chooses the tokens and gives each
step's logits. One recorded pass of the decoder over <s> plus those tokens then gives every step's attention rows,
stages and residual stream at once: causal masking means row t of that pass sees exactly the prefix step t saw,
so it is what step t computed. The encoder runs once, recorded, and its output feeds both. Interventions apply
to all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from model.decode import default_max_new_tokens, ensure_eval, greedy_decode
from model.inspect.interventions import Interventions
from model.inspect.recording import Recorder, stacked_stream, stacked_weights
from model.inspect.trace import AttentionStages, SequenceView, StepRecord, Trace
from model.nn.masks import causal_mask, decoder_mask, padding_mask
from model.nn.names import HeadRef, site_name
from model.nn.transformer import Transformer


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """float32 numpy copy of a tensor on any device."""
    return tensor.detach().float().cpu().numpy()


def _sequence_view(model: Transformer, ids: torch.Tensor, token_text: Callable[[int], str]) -> SequenceView:
    parts = model.embed(ids)
    id_list = ids[0].tolist()
    return SequenceView(
        ids=tuple(id_list),
        tokens=tuple(token_text(i) for i in id_list),
        token_embeddings=_numpy(parts.token[0]),
        positional=_numpy(parts.positional),
        summed=_numpy(parts.summed[0]),
    )


def _stages_from(recorder: Recorder) -> dict[HeadRef, AttentionStages]:
    """Each asked head's stages of the one sentence, as numpy: one conversion per site and stage, then views."""
    arrays = {
        site: {name: _numpy(value[0]) for name, value in tensors.items()}
        for site, tensors in recorder.site_stages.items()
    }
    return {
        ref: AttentionStages(
            site=ref.site, head=ref.head, **{name: array[ref.head] for name, array in arrays[ref.site].items()}
        )
        for ref in recorder.asked_heads()
    }


def step_records(
    output_ids: list[int],
    logits: torch.Tensor,
    self_attn: np.ndarray,
    cross_attn: np.ndarray,
    bos_id: int,
    eos_id: int,
    top_k: int,
    token_text: Callable[[int], str],
) -> list[StepRecord]:
    """The per-step records of a decoding.

    logits float32 [T, V]: the decoding's own step logits; self_attn [L, H, T, T] and cross_attn [L, H, T, S]
    from the recorded teacher-forced pass. Step t's rows are
    row t of those matrices; its candidates are the top-k of softmax(logits[t]).
    """
    probabilities = torch.softmax(logits, dim=-1)
    top_probs, top_ids = torch.topk(probabilities, min(top_k, logits.size(-1)), dim=-1)
    top_id_rows = top_ids.tolist()
    chosen = torch.tensor(output_ids, device=logits.device)[:, None]
    chosen_probs = probabilities.gather(1, chosen)[:, 0].tolist()
    top_prob_rows = _numpy(top_probs)
    decoder_input = (bos_id, *output_ids)
    input_texts = tuple(token_text(i) for i in decoder_input)
    steps = []
    for t, token in enumerate(output_ids):
        steps.append(
            StepRecord(
                step=t,
                prefix_ids=decoder_input[: t + 1],
                prefix_tokens=input_texts[: t + 1],
                self_attn=self_attn[:, :, t, : t + 1].copy(),
                cross_attn=cross_attn[:, :, t, :].copy(),
                top_ids=tuple(top_id_rows[t]),
                top_tokens=tuple(token_text(i) for i in top_id_rows[t]),
                top_probs=top_prob_rows[t].copy(),
                chosen_id=token,
                chosen_token=input_texts[t + 1],
                chosen_prob=chosen_probs[t],
                is_eos=token == eos_id,
            )
        )
    return steps


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
    are kept. interventions: applied to the decoding and to the recorded pass alike. The model may be on any
    device; the trace's arrays are always numpy on the CPU.
    """
    ensure_eval(model)
    config = model.config
    if len(source_ids) == 0:
        raise ValueError("the source sentence has no tokens")
    if len(source_ids) > config.max_len:
        raise ValueError(f"the source has {len(source_ids)} tokens; this model takes at most {config.max_len}")
    device = next(model.parameters()).device
    source = torch.tensor([list(source_ids)], dtype=torch.long, device=device)
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source.size(1))
    recorder = Recorder(interventions, stage_heads=stage_heads, keep_stream=True)
    source_bias = model.source_bias(source)
    memory = model.encode(source, source_bias, recorder)
    decoded = greedy_decode(model, source, max_new_tokens, interventions, memory=memory)
    output_ids = decoded.output_ids
    target = torch.tensor([[config.bos_id, *output_ids[:-1]]], dtype=torch.long, device=device)
    # The replay records every attention row, stage and residual vector. Its logits would repeat the decoding's
    # (equal to float rounding, ~1e-6), so the output projection is left out of it and the step logits that
    # chose the tokens are kept instead.
    model.decode_hidden(target, memory, source_bias, None, recorder)
    logits = decoded.logits
    encoder_sites = [site_name("encoder.self_attn", i) for i in range(config.n_encoder_layers)]
    decoder_self = [site_name("decoder.self_attn", i) for i in range(config.n_decoder_layers)]
    decoder_cross = [site_name("decoder.cross_attn", i) for i in range(config.n_decoder_layers)]
    decoder_self_attn = stacked_weights(recorder, decoder_self)
    cross_attn = stacked_weights(recorder, decoder_cross)
    steps = step_records(
        output_ids, logits, decoder_self_attn, cross_attn, config.bos_id, config.eos_id, top_k, token_text
    )
    generated = [i for i in output_ids if i != config.eos_id]
    translation = detokenize(generated) if detokenize is not None else " ".join(token_text(i) for i in generated)
    return Trace(
        source=_sequence_view(model, source, token_text),
        target=_sequence_view(model, target, token_text),
        output_ids=tuple(output_ids),
        output_tokens=tuple(token_text(i) for i in output_ids),
        translation=translation,
        stop_reason=decoded.stop_reason,
        encoder_self_attn=stacked_weights(recorder, encoder_sites),
        decoder_self_attn=decoder_self_attn,
        cross_attn=cross_attn,
        source_padding_mask=padding_mask(source, config.pad_id)[0].cpu().numpy(),
        causal_mask=causal_mask(target.size(1)).numpy(),
        decoder_mask=decoder_mask(target, config.pad_id)[0].cpu().numpy(),
        logits=_numpy(logits),
        steps=tuple(steps),
        encoder_stream=stacked_stream(recorder, "encoder", config.n_encoder_layers, config.norm_placement),
        decoder_stream=stacked_stream(recorder, "decoder", config.n_decoder_layers, config.norm_placement),
        stages=_stages_from(recorder),
    )
