"""The Transformer itself: configuration, embeddings, masks, attention, layers and the encoder-decoder.

Plain PyTorch, importing nothing else of the project. Start with `attention.py` for the attention maths.
"""
