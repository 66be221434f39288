"""Per-modality feature extractors: one module per backend."""
