"""Greedy decoding with the key/value cache (one sentence, or a batch for evaluation), and the uncached reference
that recomputes the whole prefix each step. Returns token ids and tensors; the trace is built from them elsewhere
(`model.inspect.tracing`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.nn.probe import AttentionProbe
from model.nn.transformer import Transformer

STOP_EOS = "eos"
STOP_LENGTH = "max_length"


@dataclass(frozen=True)
class GreedyResult:
    """Outcome of greedy decoding of one sentence.

    output_ids: the chosen tokens, EOS included when it was chosen.
    logits: float32 [n_steps, V] on the model's device, the next-token logits of each step, -inf at tokens never
    emitted (<pad>, <s>). stop_reason: STOP_EOS or STOP_LENGTH.
    """

    output_ids: list[int]
    logits: torch.Tensor
    stop_reason: str


def ensure_eval(model: Transformer) -> None:
    """Put the model in evaluation mode (no dropout) if it is not already: a check first, since walking every
    module to set the flag costs about a millisecond and the shared model normally stays in eval mode."""
    if model.training:
        model.eval()


def never_emitted(model: Transformer) -> list[int]:
    """Tokens the decoder must never choose: <pad> (it would read as masked padding) and <s> (only ever input)."""
    return [model.config.pad_id, model.config.bos_id]


def emission_penalty(model: Transformer) -> torch.Tensor:
    """float32 [V] on the model's device: 0, and -inf at the tokens never emitted. Made once per call."""
    penalty = torch.zeros(model.config.vocab_size, device=model.embedding.weight.device)
    penalty[never_emitted(model)] = float("-inf")
    return penalty


def next_token_logits(logits: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """logits [..., V] as a new float32 tensor with the never-emitted tokens at -inf (penalty from
    emission_penalty), so argmax and top-k never pick them; every other logit unchanged."""
    return logits.float() + penalty


def default_max_new_tokens(model: Transformer, source_length: int) -> int:
    """A length limit that never stops a sensible translation: source length + 50, within max_len."""
    return max(1, min(source_length + 50, model.config.max_len - 1))


def check_max_new_tokens(model: Transformer, max_new_tokens: int) -> None:
    """Raise ValueError unless 1 <= max_new_tokens <= max_len - 1 (BOS and the outputs must fit the positions)."""
    if not 1 <= max_new_tokens <= model.config.max_len - 1:
        raise ValueError(f"max_new_tokens must be in [1, {model.config.max_len - 1}], got {max_new_tokens}")


@torch.inference_mode()
def greedy_decode(
    model: Transformer,
    source_ids: torch.Tensor,
    max_new_tokens: int | None = None,
    probe: AttentionProbe | None = None,
    memory: torch.Tensor | None = None,
) -> GreedyResult:
    """Decode one sentence, source_ids [1, S], one token per step, reusing cached keys and values.

    The encoder runs once (or not at all when its output `memory` [1, S, d] is given). Each step feeds only the
    newest decoder position. probe: edits applied in every pass (pass an `Interventions`; a recorder would only
    keep the last step).
    """
    if source_ids.dim() != 2 or source_ids.size(0) != 1:
        raise ValueError(f"greedy_decode takes one sentence, source_ids [1, S]; got shape {tuple(source_ids.shape)}")
    ensure_eval(model)
    config = model.config
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    source_bias = model.source_bias(source_ids)
    if memory is None:
        memory = model.encode(source_ids, source_bias, probe)
    cache = model.new_cache()
    chosen_ids: list[int] = []
    step_logits: list[torch.Tensor] = []
    stop_reason = STOP_LENGTH
    next_input = torch.tensor([[config.bos_id]], dtype=torch.long, device=source_ids.device)
    penalty = emission_penalty(model)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model.decode(next_input, memory, source_bias, cache, probe)[0, -1], penalty)
        chosen = int(torch.argmax(logits))
        step_logits.append(logits)
        chosen_ids.append(chosen)
        if chosen == config.eos_id:
            stop_reason = STOP_EOS
            break
        next_input = torch.tensor([[chosen]], dtype=torch.long, device=source_ids.device)
    return GreedyResult(output_ids=chosen_ids, logits=torch.stack(step_logits), stop_reason=stop_reason)


@torch.inference_mode()
def greedy_decode_uncached(
    model: Transformer, source_ids: torch.Tensor, max_new_tokens: int | None = None
) -> list[int]:
    """The textbook loop: at every step run the decoder over the whole prefix again. source_ids [1, S].

    Returns the chosen tokens, EOS included when chosen. Kept as the reference the cache is checked against.
    """
    ensure_eval(model)
    config = model.config
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    source_bias = model.source_bias(source_ids)
    memory = model.encode(source_ids, source_bias)
    decoder_input = torch.tensor([[config.bos_id]], dtype=torch.long, device=source_ids.device)
    penalty = emission_penalty(model)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model.decode(decoder_input, memory, source_bias)[0, -1], penalty)
        chosen = int(torch.argmax(logits))
        decoder_input = torch.cat((decoder_input, decoder_input.new_tensor([[chosen]])), dim=1)
        if chosen == config.eos_id:
            break
    return decoder_input[0, 1:].tolist()


@torch.inference_mode()
def greedy_decode_batch(
    model: Transformer,
    source_ids: torch.Tensor,
    max_new_tokens: int | None = None,
    probe: AttentionProbe | None = None,
) -> list[list[int]]:
    """Batched greedy decoding for evaluation, no trace. source_ids [B, S], right-padded with pad_id.

    probe: edits applied in every pass (an `Interventions`). Returns, per sentence, the chosen tokens up to (not
    including) EOS.
    """
    ensure_eval(model)
    config = model.config
    batch = source_ids.size(0)
    max_new_tokens = max_new_tokens or default_max_new_tokens(model, source_ids.size(1))
    check_max_new_tokens(model, max_new_tokens)
    source_bias = model.source_bias(source_ids)
    memory = model.encode(source_ids, source_bias, probe)
    cache = model.new_cache()
    next_input = torch.full((batch, 1), config.bos_id, dtype=torch.long, device=source_ids.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source_ids.device)
    chosen_columns: list[torch.Tensor] = []
    penalty = emission_penalty(model)
    for _ in range(max_new_tokens):
        logits = next_token_logits(model.decode(next_input, memory, source_bias, cache, probe)[:, -1], penalty)
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
