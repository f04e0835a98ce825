"""Attention Explorer: a Streamlit app that shows what the Transformer in model/ computes for one sentence."""
