"""Looking inside: the trace of one sentence (`trace.py`, built by `tracing.py`), the per-call recorder and the
interventions that switch heads off, make them uniform or change the temperature."""
