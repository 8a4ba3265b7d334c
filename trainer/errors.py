"""Errors a pipeline user reads and acts on (bad window, missing column, failed stage)."""

from __future__ import annotations

from b2brec.errors import B2BRecError


class PipelineError(B2BRecError):
    code = "pipeline_error"


class DataError(PipelineError):
    """The data cannot train a model (empty window, too few products, unknown column)."""

    code = "invalid_data"
