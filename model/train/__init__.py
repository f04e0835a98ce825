"""Training: the loop (`loop.py`, run as `python -m model.train`), its configuration and resumable state, batching by
length, BLEU scoring and writing the pretrained folder with its card."""
