"""b2brec shared core: settings, backend interfaces, ClientSpec, feature schema, ETL, CLI."""

__version__ = "0.1.0"
