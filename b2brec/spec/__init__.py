"""ClientSpec schema and loader."""

from b2brec.spec.clientspec import ClientSpec, PipelineDefaults, SourceConnection, SourceKind, TableMapping
from b2brec.spec.loader import SpecError, list_environments, load_environment, load_spec, parse_spec

__all__ = [
    "ClientSpec",
    "PipelineDefaults",
    "SourceConnection",
    "SourceKind",
    "SpecError",
    "TableMapping",
    "list_environments",
    "load_environment",
    "load_spec",
    "parse_spec",
]
