"""An encoder-decoder Transformer written out by hand, instrumented for inspection."""
