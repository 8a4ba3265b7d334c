"""b2brec shared core: settings, client context and backends, ClientSpec, errors, progress events,
the feature contract, ETL, live model version and serving bundle. The CLI (``cli/``), the pipeline
(``trainer/``), serving and the apps stand on it; it imports none of them."""

__version__ = "0.1.0"
