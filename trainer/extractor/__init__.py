"""Stage 1: Beam extractor. ``python -m trainer.extractor --warehouse URI --output URL [options]``."""
