"""A recorded step-by-step decoder for tests only: the key/value cache, one token per step, each step's new
attention rows kept. The trace is built from one teacher-forced replay instead; this is what it is checked against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.decode import emission_penalty, next_token_logits
from model.inspect.interventions import Interventions
from model.inspect.recording import Recorder
from model.nn.names import site_name
from model.nn.transformer import Transformer


@dataclass(frozen=True)
class RecordedStep:
    """One cached step: self_attn [L, H, t+1] and cross_attn [L, H, S], the new rows; logits float32 [V]."""

    chosen: int
    self_attn: np.ndarray
    cross_attn: np.ndarray
    logits: np.ndarray


@torch.inference_mode()
def decode_recording_each_step(
    model: Transformer, source: torch.Tensor, max_new_tokens: int, interventions: Interventions | None = None
) -> list[RecordedStep]:
    """Greedy decoding of source [1, S] step by step with the cache, recording every step's new rows."""
    model.eval()
    config = model.config
    layers = range(config.n_decoder_layers)
    self_sites = [site_name("decoder.self_attn", i) for i in layers]
    cross_sites = [site_name("decoder.cross_attn", i) for i in layers]
    bias = model.source_bias(source)
    memory = model.encode(source, bias, interventions)
    cache = model.new_cache()
    next_input = torch.tensor([[config.bos_id]])
    steps: list[RecordedStep] = []
    for _ in range(max_new_tokens):
        recorder = Recorder(interventions)
        logits = next_token_logits(
            model.decode(next_input, memory, bias, cache, recorder)[0, -1], emission_penalty(model)
        )
        chosen = int(logits.argmax())
        rows = [
            torch.stack([recorder.weights[s][0, :, 0] for s in sites]).numpy() for sites in (self_sites, cross_sites)
        ]
        steps.append(RecordedStep(chosen, rows[0], rows[1], logits.numpy()))
        if chosen == config.eos_id:
            break
        next_input = torch.tensor([[chosen]])
    return steps
