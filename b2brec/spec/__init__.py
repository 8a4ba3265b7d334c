"""ClientSpec schema and loader."""

from b2brec.spec.clientspec import (
    ClientSpec,
    PipelineDefaults,
    SourceConnection,
    SourceKind,
    TableMapping,
    TrainingSettings,
)
from b2brec.spec.loader import (
    SPEC_ENV,
    ClientAmbiguous,
    ClientNotFound,
    SpecError,
    find_environment,
    list_environments,
    load_environment,
    load_spec,
    parse_spec,
    spec_from_json,
)

__all__ = [
    "SPEC_ENV",
    "ClientAmbiguous",
    "ClientNotFound",
    "ClientSpec",
    "PipelineDefaults",
    "SourceConnection",
    "SourceKind",
    "SpecError",
    "TableMapping",
    "TrainingSettings",
    "find_environment",
    "list_environments",
    "load_environment",
    "load_spec",
    "parse_spec",
    "spec_from_json",
]
