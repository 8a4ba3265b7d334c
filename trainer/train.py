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
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

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
    parser.add_argument("--no-baselines", action="store_true", help="Skip the most-popular and ALS runs")
    args = parser.parse_args(argv)
    problems = [
        f"--{name.replace('_', '-')} must be positive"
        for name in ("embedding_dim", "batch_size", "epochs", "learning_rate", "history_length", "temperature")
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
    )


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

    from trainer.data import load_split, read_metadata
    from trainer.evaluation import build_split, embedding_scorer, evaluate_both
    from trainer.export import build_bundle, export_bundle, save_models
    from trainer.fit import embed_customers, embed_products, fit
    from trainer.tracking import epoch_logger, hardware, metric_key

    metadata = read_metadata(args.dataset)
    vocab_url = args.vocab or store(args.dataset).url("vocabularies.json")
    parent, _, name = vocab_url.rpartition("/")
    if not store(parent).exists(name):
        raise PipelineError(f"{vocab_url} is missing; run the vocab stage for this run first")
    vocab = json.loads(store(parent).read_text(name))
    train, test = load_split(args.dataset, "train", metadata), load_split(args.dataset, "test", metadata)
    config = _config(args)
    tags = _dataset_tags(metadata, vocab, args.version)
    authenticate_mlflow(args.mlflow_uri)  # the internal Cloud Run MLflow wants an ID token
    mlflow.set_tracking_uri(args.mlflow_uri)
    mlflow.set_experiment(args.experiment)
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{args.model_name} {args.version}", tags={**tags, "role": "model"}) as active:
        mlflow.log_params({**config.params(), "train_rows": len(train), "test_rows": len(test)})
        mlflow.log_dict(metadata, "dataset/metadata.json")
        mlflow.log_dict(hardware(), "hardware.json")
        result = fit(train, vocab, config, callbacks=[epoch_logger()])
        split = build_split(train, test, result.product_ids)
        test_start = datetime.fromisoformat(metadata["window"]["test_start"]).timestamp()
        candidates = embed_products(result)
        customers = embed_customers(result, train, split.customers, test_start, config.history_length)
        metrics = evaluate_both(embedding_scorer(customers, candidates), split)
        metrics |= {"train_seconds": result.seconds, "examples_per_second": result.examples_per_second}
        mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        models = store(args.models)
        urls = save_models(result, candidates, config.history_length, models, args.version)
        full = pd.concat([train, test], ignore_index=True)
        bundle = build_bundle(
            result,
            full,
            version=args.version,
            cutoff=datetime.fromisoformat(metadata["window"]["cutoff"]),
            history_length=config.history_length,
            metadata=metadata,
            metrics=metrics,
            run_id=active.info.run_id,
            model_name=args.model_name,
        )
        urls["bundle"] = export_bundle(models, bundle)
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
    baseline_metrics = {} if args.no_baselines else _baselines(train, split, tags, args)
    summary = {
        "version": args.version,
        "mlflow_run_id": model_run_id,
        "metrics": metrics,
        "baselines": baseline_metrics,
        "outputs": urls,
        "dataset_digest": metadata["digest"],
        "vocab_hash": vocab["hash"],
        "window": metadata["window"],
        "model_name": args.model_name,
        "code_version": tags["code_version"],
        "strategy": result.strategy,
        "replicas": result.replicas,
        "epochs_run": len(result.history.get("loss", [])),
    }
    models.write_text(f"{args.version}/train_result.json", json.dumps(summary, indent=2, sort_keys=True))
    log.info("model %s: %s", args.version, {k: round(v, 4) for k, v in metrics.items() if "recall@100" in k})
    return summary


def _baselines(train: pd.DataFrame, split: Any, tags: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Each baseline is its own MLflow run on the same split, so the comparison is one click away."""
    import mlflow

    from trainer import baselines
    from trainer.evaluation import evaluate_both
    from trainer.tracking import metric_key

    found: dict[str, Any] = {}
    for fitter in (baselines.most_popular, baselines.als):
        fitted = fitter(train, split)
        metrics = evaluate_both(fitted.scorer, split) | {"train_seconds": fitted.seconds}
        with mlflow.start_run(run_name=f"{fitted.name} {args.version}", tags={**tags, "role": "baseline"}):
            mlflow.log_params({"baseline": fitted.name, **fitted.params})
            mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        found[fitted.name] = metrics
    return found


def main(argv: list[str] | None = None) -> int:
    return stage_main("train", run, argv)


if __name__ == "__main__":
    sys.exit(main())
