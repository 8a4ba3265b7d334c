"""Extractor entrypoint: warehouse window -> gzip TFRecord shards + metadata.json.

Locally the pipeline runs on Beam's in-process ``FnApiRunner`` (named explicitly: the
``DirectRunner`` would first try to download and start the Prism runner, which is what made a
400k-line extract take minutes), and rows are streamed from DuckDB in Arrow batches by a DoFn
(DuckDB has no Beam IO). On GCP pass ``--warehouse bigquery://PROJECT/LOCATION --runner
DataflowRunner`` (plus the usual ``--project --region --temp_location`` pipeline options) and rows
come from ``ReadFromBigQuery``. ``--rules`` carries the client's row rules (JSON of
``RowRules``) so cancellations, returns and excluded products never reach training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.options.pipeline_options import PipelineOptions
from pydantic import ValidationError

from b2brec.backends.warehouse import (
    BigQueryWarehouse,
    DuckDBWarehouse,
    Warehouse,
    WarehouseKind,
    to_duckdb_sql,
    warehouse_from_uri,
)
from b2brec.features import OPTIONAL_FEATURES
from b2brec.rowrules import rule_counts
from b2brec.spec import PipelineDefaults
from b2brec.spec.clientspec import RowRules
from trainer.errors import DataError, PipelineError
from trainer.extractor import source
from trainer.extractor.transforms import (
    MALFORMED,
    ExtractDataset,
    encode_examples,
    rows_to_batch,
    select_by_revenue,
    to_epoch_seconds,
)
from trainer.stage import stage_main
from trainer.uris import local_path, store

log = logging.getLogger(__name__)
SHARD_SUFFIX = ".tfrecord.gz"
LOCAL_RUNNER = "local"
READ_BATCH_ROWS = 50_000
READ_MEMORY_LIMIT = "256MB"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m trainer.extractor", description=__doc__)
    parser.add_argument("--warehouse", required=True, help="duckdb:///path/warehouse.duckdb or bigquery://project/loc")
    parser.add_argument("--output", required=True, help="Dataset folder URL, e.g. file:///.../datasets/RUN_ID")
    parser.add_argument("--cutoff", help="End of the window (exclusive), YYYY-MM-DD; default: day after latest sale")
    defaults = PipelineDefaults()
    parser.add_argument("--window-days", type=int, default=defaults.window_days)
    parser.add_argument("--test-days", type=int, default=defaults.test_days)
    parser.add_argument(
        "--revenue-coverage", type=float, default=defaults.revenue_coverage, help="Keep top products up to this share"
    )
    parser.add_argument("--min-customers", type=int, default=defaults.min_customers)
    parser.add_argument("--min-products", type=int, default=defaults.min_products)
    parser.add_argument(
        "--runner",
        default=LOCAL_RUNNER,
        help=f"{LOCAL_RUNNER} (in-process, never downloads anything) or a Beam runner name, e.g. DataflowRunner",
    )
    parser.add_argument("--rules", help="The client's row rules as JSON (mapping.transactions.rules)")
    parser.add_argument(
        "--exclude-features",
        default="",
        help="Optional features to leave out even where the data has them, comma-separated: "
        + ",".join(OPTIONAL_FEATURES),
    )
    args, beam_args = parser.parse_known_args(argv)
    problems = []
    args.exclude_features = tuple(f.strip() for f in args.exclude_features.split(",") if f.strip())
    unknown = [f for f in args.exclude_features if f not in OPTIONAL_FEATURES]
    if unknown:
        allowed = ", ".join(OPTIONAL_FEATURES)
        problems.append(f"--exclude-features {','.join(unknown)}: only optional features may be left out ({allowed})")
    try:
        args.rules = RowRules.model_validate_json(args.rules) if args.rules else None
    except ValidationError as exc:
        problems.append(f"--rules is not valid row rules JSON: {exc.errors()[0]['msg']}")
    if not 1 <= args.test_days < args.window_days:
        problems.append(
            f"--test-days {args.test_days} must be at least 1 and less than --window-days {args.window_days}"
        )
    if not 0 < args.revenue_coverage <= 1:
        problems.append(f"--revenue-coverage {args.revenue_coverage} must be in (0, 1]")
    if args.cutoff:
        try:
            # Midnight UTC: the window is the same on every machine, whatever its time zone.
            args.cutoff = datetime.strptime(args.cutoff, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            problems.append(f"--cutoff {args.cutoff!r} is not a date like 2026-03-31")
    if problems:
        raise PipelineError("; ".join(problems))
    return args, beam_args


def bigquery_query(sql: str, params: dict[str, datetime]) -> str:
    """ReadFromBigQuery takes no query parameters: inline the window bounds as UTC TIMESTAMP literals."""
    for name, value in params.items():
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        sql = sql.replace(f"@{name}", f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}+00'")
    return sql


class _ReadDuckDB(beam.DoFn):
    """Runs the window query in the worker and streams it as Arrow batches (bounded memory)."""

    def __init__(self, path: str, sql: str, params: dict[str, datetime]) -> None:
        self.path, self.sql, self.params = path, sql, params

    def process(self, _: Any) -> Iterator[pa.Table]:
        warehouse = DuckDBWarehouse(Path(self.path), read_only=True, memory_limit=READ_MEMORY_LIMIT)
        with warehouse.connect() as conn:  # session time zone UTC
            # Bounded memory: DuckDB spills the rules' window functions to disk beyond the limit, and
            # ``sql().to_arrow_reader`` streams (``execute().to_arrow_reader`` copies the whole result).
            reader = conn.sql(to_duckdb_sql(self.sql), params=self.params).to_arrow_reader(READ_BATCH_ROWS)
            for batch in reader:
                if batch.num_rows:
                    yield pa.Table.from_batches([batch])


class _WriteShard(beam.DoFn):
    """Writes one batch as one gzip TFRecord shard, named by its content (a retried bundle
    rewrites the same file instead of adding a duplicate)."""

    def __init__(self, folder: str, features: tuple[str, ...]) -> None:
        self.folder, self.features = folder, features

    def process(self, batch: pa.Table) -> Iterator[str]:
        records = encode_examples(batch, self.features)
        digest = hashlib.sha256()
        for record in records:
            digest.update(record)
        path = f"{self.folder}/part-{digest.hexdigest()[:20]}{SHARD_SUFFIX}"
        with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as handle:
            for record in records:
                _TFRecordUtil.write_record(handle, record)
        yield path


def _read_bigquery(pipeline: beam.Pipeline, warehouse: BigQueryWarehouse, sql: str, params: dict[str, datetime]) -> Any:
    rows = pipeline | "ReadFromBigQuery" >> beam.io.ReadFromBigQuery(
        query=bigquery_query(sql, params), use_standard_sql=True, project=warehouse.project
    )
    return (
        rows
        | "Batch" >> beam.BatchElements(min_batch_size=1_000, max_batch_size=READ_BATCH_ROWS)
        | "ToArrow" >> beam.Map(rows_to_batch)
    )


def _read_duckdb(pipeline: beam.Pipeline, warehouse: DuckDBWarehouse, sql: str, params: dict[str, datetime]) -> Any:
    reader = _ReadDuckDB(str(warehouse.path), sql, params)
    return pipeline | "Start" >> beam.Create([None]) | "FromWarehouse" >> beam.ParDo(reader)


_BEAM_READS: dict[WarehouseKind, Any] = {"bigquery": _read_bigquery, "duckdb": _read_duckdb}
"""Beam's own I/O per warehouse engine (it has no DuckDB IO, so that one streams in a DoFn): Beam lives
here, not in the core, so the warehouse only says which engine it is (``Warehouse.kind``)."""


def read_rows(pipeline: beam.Pipeline, warehouse_uri: str, sql: str, params: dict[str, datetime]) -> Any:
    warehouse: Warehouse = warehouse_from_uri(warehouse_uri)
    return _BEAM_READS[warehouse.kind](pipeline, warehouse, sql, params)


def beam_runner(name: str) -> Any:
    """The local runner as an instance (FnApiRunner, in-process), else the named runner."""
    if name in {LOCAL_RUNNER, "DirectRunner"}:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        return FnApiRunner()
    return name


def _collect(pcoll: Any, url: str, name: str) -> None:
    """Write a small PCollection as JSON lines (read back after the pipeline for metadata.json)."""
    _ = (
        pcoll
        | f"Json{name}" >> beam.Map(json.dumps, default=str)
        | f"Write{name}" >> beam.io.WriteToText(local_path(url) + f"/_work/{name}", file_name_suffix=".jsonl")
    )


def _read_jsonl(dataset_url: str, name: str) -> list[dict[str, Any]]:
    files = store(dataset_url)
    return [
        json.loads(line)
        for key in files.list("_work/")
        if key.split("/")[-1].startswith(name)
        for line in files.read_text(key).splitlines()
        if line.strip()
    ]


def _iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args, beam_args = parse_args(argv)
    warehouse = warehouse_from_uri(args.warehouse, memory_limit=READ_MEMORY_LIMIT)
    columns = source.discover(warehouse)
    features, missing = source.available_features(warehouse, columns)
    if args.exclude_features:  # the client chose to leave these out: the run's metadata lists them as missing
        missing = (*missing, *(f for f in features if f in args.exclude_features))
        features = tuple(f for f in features if f not in args.exclude_features)
    cutoff = args.cutoff or source.default_cutoff(warehouse)
    window_start = cutoff - timedelta(days=args.window_days)
    test_start = cutoff - timedelta(days=args.test_days)
    params = {"window_start": window_start, "cutoff": cutoff}
    sql = source.window_sql(columns, features, args.rules)
    counts = rule_counts(warehouse, args.rules, sorted(columns.transactions), window=(window_start, cutoff))
    output = args.output.rstrip("/")
    out = store(output)
    out.delete("", recursive=True)
    options = PipelineOptions(beam_args, save_main_session=False)
    # the products to keep are chosen in the warehouse first: choosing them inside the pipeline from
    # its own training rows makes the runner hold every training row until the choice is made
    # (~5 GB at 10M lines); with the choice known, rows stream from read to shard in bounded memory
    totals = warehouse.query(source.product_revenue_sql(sql), {**params, "test_start": test_start})
    selection = select_by_revenue(
        list(zip(totals.column("product_id").to_pylist(), totals.column("revenue").to_pylist(), strict=True)),
        args.revenue_coverage,
    )
    with beam.Pipeline(runner=beam_runner(args.runner), options=options) as pipeline:
        rows = read_rows(pipeline, args.warehouse, sql, params)
        result = rows | "Extract" >> ExtractDataset(
            test_start=to_epoch_seconds(test_start),
            coverage=args.revenue_coverage,
            features=features,
            selection=selection,
        )
        for split in ("train", "test"):
            _ = result[split] | f"Write{split}" >> beam.ParDo(_WriteShard(f"{local_path(output)}/{split}", features))
        _ = (
            result[MALFORMED]
            | "JsonMalformed" >> beam.Map(json.dumps)
            | "WriteMalformed" >> beam.io.WriteToText(local_path(output) + "/malformed/part", file_name_suffix=".jsonl")
        )
        for name in ("selection", "train_stats", "test_stats"):
            _collect(result[name], output, name)
    metadata = _metadata(args, output, features, missing, window_start, test_start, cutoff, sql)
    metadata["files"]["earlier"] = [_write_earlier(warehouse, out, sql, features, window_start)]
    metadata["rows"].update(rejected=counts.rejected, excluded=counts.excluded, no_customer=counts.no_customer)
    metadata["rules"] = {"counts": counts.as_dict(), "rules": args.rules.model_dump() if args.rules else None}
    out.delete("_work", recursive=True)
    out.write_text("metadata.json", json.dumps(metadata, indent=2, sort_keys=True))
    _check(metadata, args)
    log.info("extracted %s train and %s test rows to %s", metadata["rows"]["train"], metadata["rows"]["test"], output)
    return metadata


EARLIER = "earlier/pairs.parquet"


def _write_earlier(warehouse: Any, out: Any, sql: str, features: tuple[str, ...], window_start: datetime) -> str:
    """Each customer's purchases before the window, one row per (customer, product) (``Lines``'
    earlier pairs): training serves whole histories from it. Bounded by pairs, not lines."""
    table = warehouse.query(
        source.earlier_pairs_sql(sql, features),
        {"window_start": datetime(1970, 1, 1, tzinfo=UTC), "cutoff": window_start},
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    out.write_bytes(EARLIER, sink.getvalue().to_pybytes())
    return EARLIER


def _metadata(
    args: argparse.Namespace,
    output: str,
    features: tuple[str, ...],
    missing: tuple[str, ...],
    window_start: datetime,
    test_start: datetime,
    cutoff: datetime,
    sql: str,
) -> dict[str, Any]:
    out = store(output)
    selection = _read_jsonl(output, "selection")[0]
    stats = {split: _read_jsonl(output, f"{split}_stats")[0] for split in ("train", "test")}
    malformed = sum(len(out.read_text(k).splitlines()) for k in out.list("malformed/"))
    files = {split: [k for k in out.list(f"{split}/") if k.endswith(SHARD_SUFFIX)] for split in ("train", "test")}
    digest = hashlib.sha256()
    for key in files["train"] + files["test"]:
        digest.update(out.read_bytes(key))
    all_features = ("customer_id", "product_id", "revenue", "timestamp", *features)
    return {
        "rows": {"train": stats["train"]["rows"], "test": stats["test"]["rows"], "malformed": malformed},
        "customers": {"train": stats["train"]["customers"], "test": stats["test"]["customers"]},
        "products": {
            "train": stats["train"]["products"],
            "test": stats["test"]["products"],
            "kept": len(selection["kept"]),
            "in_window": selection["total_products"],
        },
        "window": {
            "start": window_start.isoformat(),
            "test_start": test_start.isoformat(),
            "cutoff": cutoff.isoformat(),
            # an explicit cutoff makes this a backtest: serving reads no history from the cutoff on
            "cutoff_given": bool(args.cutoff),
            "window_days": args.window_days,
            "test_days": args.test_days,
        },
        "date_ranges": {
            split: {"first": _iso(stats[split]["min_timestamp"]), "last": _iso(stats[split]["max_timestamp"])}
            for split in ("train", "test")
        },
        "revenue_coverage": {
            "target": args.revenue_coverage,
            "kept_share": selection["kept_share"],
            "kept_revenue": selection["kept_revenue"],
            "total_revenue": selection["total_revenue"],
        },
        "features": list(all_features),
        "missing_features": list(missing),
        "files": files,
        "digest": digest.hexdigest(),
        "query": sql,
        "created_at": datetime.now(UTC).isoformat(),
    }


def _check(metadata: dict[str, Any], args: argparse.Namespace) -> None:
    """Stop before training when the window cannot make a model (metadata.json stays for inspection)."""
    window = metadata["window"]
    rows = metadata["rows"]
    if rows["train"] == 0:
        raise DataError(
            f"no usable transactions between {window['start']} and {window['test_start']} "
            f"({rows['malformed']} malformed); pick another --cutoff or a longer --window-days"
        )
    if rows["test"] == 0:
        raise DataError(
            f"no transactions in the test period {window['test_start']} .. {window['cutoff']}; "
            "pick an earlier --cutoff or a longer --test-days"
        )
    if metadata["customers"]["train"] < args.min_customers:
        raise DataError(
            f"only {metadata['customers']['train']} customers in the training window (need {args.min_customers}); "
            "use a longer --window-days"
        )
    if metadata["products"]["kept"] < args.min_products:
        raise DataError(
            f"only {metadata['products']['kept']} products kept (need {args.min_products}); "
            "raise --revenue-coverage or use a longer --window-days"
        )


def main(argv: list[str] | None = None) -> int:
    return stage_main("extract", run, argv)
