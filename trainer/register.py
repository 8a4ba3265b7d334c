"""Stage 4: register the trained version in the MLflow model registry, with metrics and lineage.

``python -m trainer.register --models URL --version V --mlflow-uri URI [--model-name NAME]``
The registered version carries tag ``bundle_uri`` (the serving bundle) and ``model_version`` (the
version string used in the bundle), plus run id, data window, dataset digest, vocab hash, code version.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from b2brec.backends.identity import authenticate_mlflow
from trainer.errors import PipelineError
from trainer.stage import stage_main
from trainer.uris import store

log = logging.getLogger(__name__)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m trainer.register", description=__doc__)
    parser.add_argument("--models", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--mlflow-uri", required=True)
    parser.add_argument("--model-name", help="Registered model name (default: the one used in training)")
    args = parser.parse_args(argv)
    import mlflow
    from mlflow import MlflowClient

    from trainer.tracking import metric_key

    models = store(args.models)
    key = f"{args.version}/train_result.json"
    if not models.exists(key):
        raise PipelineError(f"{models.url(key)} is missing; run the train stage for version {args.version} first")
    trained = json.loads(models.read_text(key))
    name = args.model_name or trained["model_name"]
    authenticate_mlflow(args.mlflow_uri)  # the internal Cloud Run MLflow wants an ID token
    mlflow.set_tracking_uri(args.mlflow_uri)
    window = trained["window"]
    tags = {
        "bundle_uri": trained["outputs"]["bundle"],
        "model_version": trained["version"],
        "mlflow_run_id": trained["mlflow_run_id"],
        "window_start": window["start"],
        "cutoff": window["cutoff"],
        "dataset_digest": trained["dataset_digest"],
        "vocab_hash": trained["vocab_hash"],
        "code_version": trained["code_version"],
        "saved_model_uri": trained["outputs"]["saved_model"],
        **{f"metric.{metric_key(k)}": f"{v:.4f}" for k, v in trained["metrics"].items() if "recall" in k},
        **_quality_tags(trained.get("quality")),
    }
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="b2brec two-tower retrieval models")
    run_id = trained["mlflow_run_id"]
    registered = client.create_model_version(
        name,
        source=f"{client.get_run(run_id).info.artifact_uri}/model",
        run_id=run_id,
        tags=tags,
        description=f"b2brec two-tower {trained['version']}, window {window['start']} .. {window['cutoff']}",
    )
    record = {"name": name, "registry_version": registered.version, "tags": tags, "quality": trained.get("quality")}
    if tags["quality.loses_to_baseline"] == "true":
        log.warning(
            "registered %s version %s is flagged: it loses to the baseline %s; it will not be deployed "
            "automatically over a live model that does not",
            name,
            registered.version,
            tags["quality.best_baseline"],
        )
    models.write_text(f"{args.version}/registered.json", json.dumps(record, indent=2, sort_keys=True))
    log.info("registered %s version %s (bundle %s)", name, registered.version, tags["bundle_uri"])
    return record


def _quality_tags(quality: dict[str, Any] | None) -> dict[str, str]:
    """``quality.loses_to_baseline`` (true/false/unknown), the best baseline and both scores."""
    if not quality or quality.get("best_baseline") is None:
        return {"quality.loses_to_baseline": "unknown", "quality.best_baseline": "none"}
    return {
        "quality.loses_to_baseline": str(bool(quality["loses_to_baseline"])).lower(),
        "quality.best_baseline": str(quality["best_baseline"]),
        "quality.metric": str(quality["metric"]),
        "quality.model": f"{quality['model']:.4f}",
        "quality.baseline": f"{quality['baseline']:.4f}",
    }


def main(argv: list[str] | None = None) -> int:
    return stage_main("register", run, argv)


if __name__ == "__main__":
    sys.exit(main())
