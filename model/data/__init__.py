"""Data: the Multi30k corpus and its download, the subword tokenizer, and pretrained folders on disk."""
