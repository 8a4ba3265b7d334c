"""Extractor entrypoint: warehouse window -> gzip TFRecord shards + metadata.json.

Locally the query result feeds ``beam.Create`` on the DirectRunner (DuckDB has no Beam IO); on
GCP pass ``--warehouse bigquery://PROJECT/LOCATION --runner DataflowRunner`` (plus the usual
``--project --region --temp_location`` pipeline options) and rows come from ``ReadFromBigQuery``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.options.pipeline_options import PipelineOptions

from b2brec.backends.warehouse import BigQueryWarehouse
from trainer.errors import DataError, PipelineError
from trainer.extractor import source
from trainer.extractor.transforms import MALFORMED, ExtractDataset, to_epoch_seconds, to_example
from trainer.stage import stage_main
from trainer.uris import local_path, store, warehouse_from_uri

log = logging.getLogger(__name__)
SHARD_SUFFIX = ".tfrecord.gz"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m trainer.extractor", description=__doc__)
    parser.add_argument("--warehouse", required=True, help="duckdb:///path/warehouse.duckdb or bigquery://project/loc")
    parser.add_argument("--output", required=True, help="Dataset folder URL, e.g. file:///.../datasets/RUN_ID")
    parser.add_argument("--cutoff", help="End of the window (exclusive), YYYY-MM-DD; default: day after latest sale")
    parser.add_argument("--window-days", type=int, default=730)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--revenue-coverage", type=float, default=1.0, help="Keep top products up to this share")
    parser.add_argument("--min-customers", type=int, default=5)
    parser.add_argument("--min-products", type=int, default=5)
    parser.add_argument("--runner", default="DirectRunner")
    args, beam_args = parser.parse_known_args(argv)
    problems = []
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


def read_rows(pipeline: beam.Pipeline, warehouse_uri: str, sql: str, params: dict[str, datetime]) -> Any:
    warehouse = warehouse_from_uri(warehouse_uri)
    if isinstance(warehouse, BigQueryWarehouse):
        return pipeline | "ReadFromBigQuery" >> beam.io.ReadFromBigQuery(
            query=bigquery_query(sql, params), use_standard_sql=True, project=warehouse.project
        )
    rows = warehouse.query(sql, params).to_pylist()
    return pipeline | "FromWarehouse" >> beam.Create(rows, reshuffle=False)


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
    warehouse = warehouse_from_uri(args.warehouse)
    columns = source.discover(warehouse)
    features, missing = source.available_features(warehouse, columns)
    cutoff = args.cutoff or source.default_cutoff(warehouse)
    window_start = cutoff - timedelta(days=args.window_days)
    test_start = cutoff - timedelta(days=args.test_days)
    params = {"window_start": window_start, "cutoff": cutoff}
    sql = source.window_sql(columns, features)
    output = args.output.rstrip("/")
    out = store(output)
    out.delete("", recursive=True)
    options = PipelineOptions(beam_args, runner=args.runner, save_main_session=False)
    with beam.Pipeline(options=options) as pipeline:
        rows = read_rows(pipeline, args.warehouse, sql, params)
        result = rows | "Extract" >> ExtractDataset(
            test_start=to_epoch_seconds(test_start), coverage=args.revenue_coverage, features=features
        )
        for split in ("train", "test"):
            _ = (
                result[split]
                | f"Encode{split}" >> beam.Map(to_example, features)
                | f"Write{split}"
                >> beam.io.WriteToTFRecord(
                    local_path(output) + f"/{split}/part",
                    file_name_suffix=SHARD_SUFFIX,
                    compression_type=CompressionTypes.GZIP,
                )
            )
        _ = (
            result[MALFORMED]
            | "JsonMalformed" >> beam.Map(json.dumps)
            | "WriteMalformed" >> beam.io.WriteToText(local_path(output) + "/malformed/part", file_name_suffix=".jsonl")
        )
        for name in ("selection", "train_stats", "test_stats"):
            _collect(result[name], output, name)
    metadata = _metadata(args, output, features, missing, window_start, test_start, cutoff, sql)
    out.delete("_work", recursive=True)
    out.write_text("metadata.json", json.dumps(metadata, indent=2, sort_keys=True))
    _check(metadata, args)
    log.info("extracted %s train and %s test rows to %s", metadata["rows"]["train"], metadata["rows"]["test"], output)
    return metadata


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
