"""Switching heads off on one sentence: a teacher-forced pass under interventions, and every head's importance from
one batched pass (one row per head switched off), never 72 separate calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.decode import emission_penalty, ensure_eval, next_token_logits
from model.inspect.interventions import Interventions
from model.inspect.recording import Recorder
from model.nn.names import HeadRef, every_head
from model.nn.probe import SiteEdit
from model.nn.transformer import Transformer


class RowAblation:
    """A probe for a batch whose row r switches off heads[r] (None: nothing) on top of shared interventions."""

    def __init__(self, heads: Sequence[HeadRef | None], n_heads: int, interventions: Interventions | None) -> None:
        self.interventions = interventions
        self._keep: dict[str, torch.Tensor] = {}
        for row, ref in enumerate(heads):
            if ref is None:
                continue
            keep = self._keep.setdefault(ref.site, torch.ones(len(heads), n_heads))
            keep[row, ref.head] = 0.0

    def edit(self, site: str) -> SiteEdit | None:
        base = self.interventions.edit(site) if self.interventions is not None else None
        keep = self._keep.get(site)
        if keep is None:
            return base
        if base is None:
            return SiteEdit(keep=keep)
        return SiteEdit(zeroed=base.zeroed, uniform=base.uniform, temperature=base.temperature, keep=keep)

    def stage_heads(self, site: str) -> tuple[int, ...]:
        return ()

    def record(self, site: str, weights: torch.Tensor, stages: Mapping[str, torch.Tensor] | None) -> None:
        return None


def _token_logprobs(model: Transformer, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits [B, T, V], labels [B, T] -> log p(label) [B, T] in float32, over the tokens decoding may
    choose (as the trace's probabilities: <pad> and <s> excluded). log p = logit - logsumexp, without a second
    [B, T, V] tensor."""
    logits = next_token_logits(logits, emission_penalty(model))
    return logits.gather(-1, labels[..., None])[..., 0] - torch.logsumexp(logits, dim=-1)


@dataclass(frozen=True)
class ForcedPass:
    """One teacher-forced pass over a fixed output. logprobs float32 [T]: log p of each output token at its step;
    weights: per site, [H, T_q, T_k]."""

    logprobs: np.ndarray
    weights: dict[str, np.ndarray]


def _tensors(model: Transformer, source_ids: Sequence[int], output_ids: Sequence[int]) -> tuple[torch.Tensor, ...]:
    device = next(model.parameters()).device
    source = torch.tensor([list(source_ids)], dtype=torch.long, device=device)
    target = torch.tensor([[model.config.bos_id, *output_ids[:-1]]], dtype=torch.long, device=device)
    labels = torch.tensor([list(output_ids)], dtype=torch.long, device=device)
    return source, target, labels


@torch.inference_mode()
def forced_pass(
    model: Transformer, source_ids: Sequence[int], output_ids: Sequence[int], interventions: Interventions | None
) -> ForcedPass:
    """Teacher-forced on output_ids (EOS included if it was produced) under the interventions, so that its steps
    line up with the original decoding's whatever the interventions make the model prefer."""
    if not output_ids:
        raise ValueError("there is no output to score")
    ensure_eval(model)
    source, target, labels = _tensors(model, source_ids, output_ids)
    recorder = Recorder(interventions)
    logits = model(source, target, probe=recorder)
    return ForcedPass(
        logprobs=_token_logprobs(model, logits, labels)[0].cpu().numpy(),
        weights={site: value[0].cpu().numpy() for site, value in recorder.weights.items()},
    )


@torch.inference_mode()
def summed_logprobs(
    model: Transformer,
    source_ids: Sequence[int],
    output_ids: Sequence[int],
    rows: Sequence[HeadRef | None],
    interventions: Interventions | None = None,
    chunk: int = 80,
) -> np.ndarray:
    """Summed log-probability of output_ids (teacher-forced) with rows[r] switched off in row r of one batch (None:
    nothing more), on top of `interventions`; float64 [len(rows)]. Chunks of `chunk` rows bound the memory."""
    if not output_ids:
        raise ValueError("there is no output to score")
    ensure_eval(model)
    source, target, labels = _tensors(model, source_ids, output_ids)
    totals: list[torch.Tensor] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        probe = RowAblation(part, model.config.n_heads, interventions)
        batch = len(part)
        logits = model(source.expand(batch, -1), target.expand(batch, -1), probe=probe)
        totals.append(_token_logprobs(model, logits, labels.expand(batch, -1)).sum(dim=-1))
    return torch.cat(totals).cpu().numpy().astype(np.float64)


def head_importance(
    model: Transformer,
    source_ids: Sequence[int],
    output_ids: Sequence[int],
    interventions: Interventions | None = None,
    chunk: int = 80,
) -> dict[HeadRef, float]:
    """For every head alone switched off (on top of `interventions`), the drop in the summed log-probability of
    output_ids, teacher-forced: sum log p(as it is) - sum log p(without the head). One batched pass: row 0 is the
    model as it is, row r + 1 has head r off. A head already off drops 0."""
    heads = every_head(model.config)
    summed = summed_logprobs(model, source_ids, output_ids, [None, *heads], interventions, chunk)
    return {ref: float(summed[0] - summed[index + 1]) for index, ref in enumerate(heads)}


def keep_only(model: Transformer, kept: Sequence[HeadRef], kinds: Sequence[str]) -> frozenset[HeadRef]:
    """The heads to switch off so that, within each of `kinds`, only `kept` stay on."""
    kept_set = set(kept)
    return frozenset(ref for ref in every_head(model.config) if ref.kind in kinds and ref not in kept_set)
