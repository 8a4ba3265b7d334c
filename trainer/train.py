"""Stage 3: train the two-tower model, evaluate it and the baselines, export models and the serving bundle.

``python -m trainer.train --dataset URL --models URL --version V --mlflow-uri URI [hyperparameters]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from b2brec.backends.identity import authenticate_mlflow
from b2brec.spec import PipelineDefaults
from trainer.errors import PipelineError
from trainer.stage import stage_main
from trainer.uris import store

log = logging.getLogger(__name__)
REPORTED = ("recall@5", "recall@10", "recall@50", "recall@100", "ndcg@10", "coverage@10", "customers")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__)
    parser.add_argument("--dataset", required=True, help="Dataset folder URL (extract stage output)")
    parser.add_argument("--vocab", help="vocabularies.json URL (default: DATASET/vocabularies.json)")
    parser.add_argument("--models", required=True, help="Models bucket URL; writes VERSION/... under it")
    parser.add_argument("--version", required=True, help="Model version string, e.g. the run id")
    parser.add_argument("--mlflow-uri", required=True, help="MLflow tracking URI, e.g. http://127.0.0.1:18002")
    parser.add_argument("--experiment", default="b2brec")
    parser.add_argument("--model-name", default="two-tower")
    defaults = PipelineDefaults()  # declared once, in the ClientSpec schema
    parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
    parser.add_argument("--layers", default="128", help="Hidden layer sizes per tower, comma-separated ('' = none)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--history-length", type=int, default=50)
    parser.add_argument("--temperature", type=float, default=0.3)
    parser.add_argument("--logq-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--distribute", choices=("auto", "mirrored", "none"), default="auto")
    parser.add_argument("--no-baselines", action="store_true", help="Skip the baselines (quality is then unknown)")
    parser.add_argument(
        "--checkpoints",
        help="Folder URL for per-epoch checkpoints a restarted (preempted) job resumes from "
        "(default: MODELS/VERSION/checkpoints; 'none' = no checkpoints); deleted after a successful run",
    )
    parser.add_argument(
        "--validation-days",
        type=int,
        default=0,
        help="Days before the test period the ranker learns from (default: as long as the test period)",
    )
    parser.add_argument(
        "--half-life-days", type=float, default=defaults.half_life_days, help="Time decay of popularity and history"
    )
    parser.add_argument("--ranker", choices=("trees", "linear"), default="trees")
    parser.add_argument("--no-two-tower", action="store_true", help="Rank without the two-tower retrieval")
    args = parser.parse_args(argv)
    if args.validation_days < 0:
        raise PipelineError(f"--validation-days {args.validation_days} must be 0 (= test period length) or positive")
    problems = [
        f"--{name.replace('_', '-')} must be positive"
        for name in (
            "embedding_dim",
            "batch_size",
            "epochs",
            "learning_rate",
            "history_length",
            "temperature",
            "half_life_days",
        )
        if getattr(args, name) <= 0
    ]
    try:
        args.layers = tuple(int(x) for x in args.layers.split(",") if x.strip())
    except ValueError:
        problems.append(f"--layers {args.layers!r} must be comma-separated integers, e.g. 256,128")
    if problems:
        raise PipelineError("; ".join(problems))
    return args


def _config(args: argparse.Namespace) -> Any:
    from trainer.fit import TrainConfig

    return TrainConfig(
        embedding_dim=args.embedding_dim,
        layers=args.layers,
        batch_size=args.batch_size,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        history_length=args.history_length,
        temperature=args.temperature,
        logq_weight=args.logq_weight,
        seed=args.seed,
        distribute=args.distribute,
        backup_dir=checkpoints_url(args),
    )


def checkpoints_url(args: argparse.Namespace) -> str | None:
    """Where the two-tower fit keeps its per-epoch checkpoint: in object storage, per model version."""
    if args.checkpoints == "none":
        return None
    return args.checkpoints or store(args.models).url(f"{args.version}/checkpoints")


def _dataset_tags(metadata: dict[str, Any], vocab: dict[str, Any], version: str) -> dict[str, str]:
    from trainer.tracking import code_version

    window = metadata["window"]
    return {
        "model_version": version,
        "dataset_digest": metadata["digest"],
        "vocab_hash": vocab["hash"],
        "window_start": window["start"],
        "test_start": window["test_start"],
        "cutoff": window["cutoff"],
        "code_version": code_version(),
        "features": ",".join(metadata["features"]),
    }


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import mlflow

    from b2brec.quality import verdict
    from trainer.data import read_metadata, spool_dataset, spool_earlier
    from trainer.evaluation import build_split, evaluate_both
    from trainer.export import build_bundle, export_bundle, save_models
    from trainer.lines import Lines
    from trainer.model.hybrid import fit_hybrid
    from trainer.tracking import epoch_logger, hardware, metric_key

    metadata = read_metadata(args.dataset)
    vocab_url = args.vocab or store(args.dataset).url("vocabularies.json")
    parent, _, name = vocab_url.rpartition("/")
    if not store(parent).exists(name):
        raise PipelineError(f"{vocab_url} is missing; run the vocab stage for this run first")
    vocab = json.loads(store(parent).read_text(name))
    # the splits are spooled to local Parquet batch by batch and read through DuckDB aggregates:
    # memory grows with (customer, product) pairs and the catalog, not with lines
    spool = tempfile.TemporaryDirectory(prefix="b2brec-train-")
    files = spool_dataset(args.dataset, spool.name, metadata)
    train = Lines.from_parquet([files["train"]], temp_directory=spool.name)
    test = Lines.from_parquet([files["test"]], temp_directory=spool.name)
    # served: the window's lines plus every customer's purchases before it (whole histories)
    earlier = spool_earlier(args.dataset, spool.name, metadata)
    full = Lines.from_parquet([files["train"], files["test"]], earlier=earlier, temp_directory=spool.name)
    window = metadata["window"]
    test_start = _epoch(window["test_start"])
    cutoff = _epoch(window["cutoff"])
    test_days = max(1, round((cutoff - test_start) / 86400))
    config = _hybrid_config(args, test_days)
    tags = _dataset_tags(metadata, vocab, args.version)
    authenticate_mlflow(args.mlflow_uri)  # the internal Cloud Run MLflow wants an ID token
    mlflow.set_tracking_uri(args.mlflow_uri)
    mlflow.set_experiment(args.experiment)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{args.model_name} {args.version}", tags={**tags, "role": "model"}) as active:
        mlflow.log_params(
            {
                **config.train_config.params(),
                **_hybrid_params(config),
                "train_rows": train.count(),
                "test_rows": test.count(),
            }
        )
        mlflow.log_dict(metadata, "dataset/metadata.json")
        mlflow.log_dict(hardware(), "hardware.json")
        # 1. fitted on rows before the test period, scored on it; baselines on the same split
        config = replace(config, callbacks=(epoch_logger(),))
        model = fit_hybrid(train, float(test_start), list(metadata["features"]), config)
        split = build_split(train, test)
        metrics = evaluate_both(model.scorer(split), split)
        metrics |= {"train_seconds": model.timings.get("total", 0.0)}
        mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        mlflow.log_dict({"timings": model.timings, "info": model.info, "ranker": model.ranker.to_dict()}, "model.json")
        baseline_metrics, baseline_params = (
            ({}, {}) if args.no_baselines else _baselines(train, split, float(test_start))
        )
        quality = verdict(metrics, baseline_metrics)
        mlflow.set_tags(
            {
                "quality.loses_to_baseline": str(quality.loses_to_baseline).lower(),
                "quality.best_baseline": str(quality.best_baseline),
                "quality.summary": quality.summary,
            }
        )
        if quality.loses_to_baseline:
            log.warning("model %s %s", args.version, quality.summary)
        # 2. served: the same learned parts, histories and neighbours refreshed up to the cutoff
        served = model.refreshed(full, float(cutoff))
        models = store(args.models)
        urls: dict[str, str] = {}
        if served.two_tower is not None and served.product_embeddings is not None:
            urls = save_models(
                served.two_tower,
                served.product_embeddings,
                config.train_config.history_length,
                models,
                args.version,
                product_ids=served.product_ids,
            )
        bundle = build_bundle(
            served,
            full,
            version=args.version,
            cutoff=datetime.fromtimestamp(cutoff, UTC),
            metadata=metadata,
            metrics=metrics,
            run_id=active.info.run_id,
            model_name=args.model_name,
            quality=quality.to_dict(),
        )
        urls["bundle"] = export_bundle(models, bundle)
        if "saved_model" in urls:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "saved_model"
                for key in models.list(f"{args.version}/saved_model/"):
                    target = local / key.split("/saved_model/", 1)[1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(models.read_bytes(key))
                mlflow.log_artifacts(str(local), "model")
        mlflow.log_metric("duration_seconds", time.perf_counter() - started)
        mlflow.set_tags({f"output.{k}": v for k, v in urls.items()})
        model_run_id = active.info.run_id
    _log_baselines(baseline_metrics, baseline_params, tags, args.version)
    two_tower = model.two_tower
    summary = {
        "version": args.version,
        "mlflow_run_id": model_run_id,
        "metrics": metrics,
        "baselines": baseline_metrics,
        "quality": quality.to_dict(),
        "outputs": urls,
        "dataset_digest": metadata["digest"],
        "vocab_hash": vocab["hash"],
        "window": metadata["window"],
        "model_name": args.model_name,
        "code_version": tags["code_version"],
        "strategy": two_tower.strategy if two_tower is not None else "none",
        "replicas": two_tower.replicas if two_tower is not None else 0,
        "epochs_run": len(two_tower.history.get("loss", [])) if two_tower is not None else 0,
        "timings": model.timings,
    }
    models.write_text(f"{args.version}/train_result.json", json.dumps(summary, indent=2, sort_keys=True))
    _drop_checkpoints(args)
    for lines in (train, test, full):
        lines.conn.close()
    spool.cleanup()
    log.info(
        "model %s: %s; %s",
        args.version,
        {k: round(v, 4) for k, v in metrics.items() if "recall@100" in k},
        quality.summary,
    )
    return summary


def _epoch(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _drop_checkpoints(args: argparse.Namespace) -> None:
    """The fit deletes its own backup when it ends; this also clears a folder left by an older attempt."""
    url = checkpoints_url(args)
    if url is None:
        return
    parent, _, name = url.rstrip("/").rpartition("/")
    folder = store(parent)
    if folder.exists(name):
        folder.delete(name, recursive=True)


def _hybrid_config(args: argparse.Namespace, test_days: int) -> Any:
    from trainer.model.hybrid import HybridConfig

    return HybridConfig(
        train_config=_config(args),
        validation_days=args.validation_days or test_days,
        half_life_days=args.half_life_days,
        ranker=args.ranker,
        two_tower=not args.no_two_tower,
        seed=args.seed,
    )


def _hybrid_params(config: Any) -> dict[str, Any]:
    return {
        f"ranker.{k}": v
        for k, v in vars(config).items()
        if k not in ("train_config", "callbacks") and isinstance(v, (int, float, str, bool, type(None)))
    }


def _baselines(train: Any, split: Any, moment: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Every baseline's metrics on the model's split, and its parameters."""
    from trainer import baselines
    from trainer.evaluation import evaluate_both

    found: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = {}
    for name, fitted in baselines.fit_all(train, split, moment=moment).items():
        found[name] = evaluate_both(fitted.scorer, split) | {"train_seconds": fitted.seconds}
        params[name] = dict(fitted.params)
    return found, params


def _log_baselines(
    found: dict[str, Any], params: dict[str, dict[str, Any]], tags: dict[str, str], version: str
) -> None:
    """Each baseline is its own MLflow run next to the model's, so the comparison is one click away."""
    import mlflow

    from trainer.tracking import metric_key

    for name, metrics in found.items():
        with mlflow.start_run(run_name=f"{name} {version}", tags={**tags, "role": "baseline"}):
            mlflow.log_params({"baseline": name, **params.get(name, {})})
            mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})


def main(argv: list[str] | None = None) -> int:
    return stage_main("train", run, argv)


if __name__ == "__main__":
    sys.exit(main())
