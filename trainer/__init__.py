"""The ML pipeline's stages: extractor (Beam) -> vocab -> train (TFRS two-tower) -> register.

Each stage is a module with a ``main(argv)`` entrypoint taking URIs and options, exactly what a
Vertex AI CustomJob (or the local subprocess runner) calls: ``python -m trainer.<stage> --args``.
"""

STAGES: tuple[str, ...] = ("extract", "vocab", "train", "register")
"""Pipeline stages in order."""

STAGE_MODULES: dict[str, str] = {
    "extract": "trainer.extractor",
    "vocab": "trainer.vocab",
    "train": "trainer.train",
    "register": "trainer.register",
}
