"""What each decoder layer would predict (the "logit lens"): every layer's output sent through the model's own
output head, as if the layers above it were not there.

The head is exactly what follows the last decoder layer in the model: for a pre-norm model the decoder's final
LayerNorm, then the output projection (the shared embedding matrix, transposed, no bias), then the softmax over
the tokens decoding may choose. For a post-norm model (the paper's, and the shipped ones) each layer's output has
already been through its own LayerNorm and the final norm is the identity, so nothing else is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from model.decode import emission_penalty, next_token_logits
from model.inspect.trace import Trace, _ToDict
from model.nn.transformer import Transformer


@dataclass(frozen=True)
class LayerPredictions(_ToDict):
    """Per decoder layer l and decoder position t (row t is step t): the k most likely next tokens.

    top_ids int64 [L, T, k]; top_tokens: the same as strings, [L][T][k]; top_probs float32 [L, T, k].
    output_probs float32 [L, T]: the probability layer l gives the token the model actually chose at step t;
    output_ranks int64 [L, T]: its rank there (0 = that layer's favourite). final_norm: True when the decoder's
    final LayerNorm was applied before the projection (pre-norm models).
    """

    top_ids: np.ndarray
    top_tokens: tuple[tuple[tuple[str, ...], ...], ...]
    top_probs: np.ndarray
    output_probs: np.ndarray
    output_ranks: np.ndarray
    final_norm: bool


@torch.inference_mode()
def layer_predictions(
    model: Transformer, trace: Trace, token_text: Callable[[int], str] = str, top_k: int = 5
) -> LayerPredictions:
    """Every decoder layer's output of the trace's teacher-forced pass through the model's output head. The last
    layer's distribution is the trace's own (`trace.probabilities`)."""
    device = model.embedding.weight.device
    outputs = torch.from_numpy(trace.decoder_stream.layer_output).to(device=device, dtype=model.embedding.weight.dtype)
    logits = next_token_logits(model.embedding.project(model.decoder_norm(outputs)), emission_penalty(model))
    probs = torch.softmax(logits, dim=-1)  # [L, T, V]
    top_probs, top_ids = torch.topk(probs, min(top_k, probs.size(-1)), dim=-1)
    chosen = torch.tensor(trace.output_ids, device=device)[None, :, None].expand(probs.size(0), -1, 1)
    chosen_probs = probs.gather(-1, chosen)  # [L, T, 1]
    ranks = (probs > chosen_probs).sum(dim=-1)
    id_rows = top_ids.tolist()
    return LayerPredictions(
        top_ids=top_ids.cpu().numpy(),
        top_tokens=tuple(tuple(tuple(token_text(i) for i in row) for row in layer) for layer in id_rows),
        top_probs=top_probs.float().cpu().numpy(),
        output_probs=chosen_probs[..., 0].float().cpu().numpy(),
        output_ranks=ranks.cpu().numpy(),
        final_norm=model.config.norm_placement == "pre",
    )
