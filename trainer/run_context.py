"""What a pipeline run needs besides its record: its options, and the client's stores, job runner
and tracking server (``PipelineContext``), and each stage's command line and outputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from b2brec.backends.jobs import JobRunner, MachineSpec
from b2brec.backends.storage import ObjectStore
from b2brec.context import ClientContext
from b2brec.spec import ClientSpec, PipelineDefaults
from trainer import STAGE_MODULES, STAGES
from trainer.errors import PipelineError

DEFAULTS = PipelineDefaults()
"""The pipeline's defaults live once, in the ClientSpec schema (``pipeline:``); a spec may override them."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Options a run keeps for its whole life (a resumed run uses the same)."""

    cutoff: str | None = None
    window_days: int = DEFAULTS.window_days
    test_days: int = DEFAULTS.test_days
    revenue_coverage: float = DEFAULTS.revenue_coverage
    min_customers: int = DEFAULTS.min_customers
    min_products: int = DEFAULTS.min_products
    epochs: int = DEFAULTS.epochs
    batch_size: int = DEFAULTS.batch_size
    embedding_dim: int = DEFAULTS.embedding_dim
    learning_rate: float = DEFAULTS.learning_rate
    baselines: bool = True
    model_name: str = "two-tower"
    experiment: str = "b2brec"
    rules: str | None = None
    """The client's row rules (``mapping.transactions.rules`` as JSON), applied by the extract stage."""
    exclude_features: tuple[str, ...] = ()
    """Optional features the client chose to leave out (the client app's Features page)."""
    half_life_days: float = DEFAULTS.half_life_days
    """Time decay of popularity and purchase history in the trained model."""

    def __post_init__(self) -> None:
        # a run record stores options as JSON: a tuple comes back as a list
        object.__setattr__(self, "exclude_features", tuple(self.exclude_features))

    @classmethod
    def from_spec(cls, spec: ClientSpec, **overrides: Any) -> RunOptions:
        p = spec.pipeline
        defaults: dict[str, Any] = {
            "window_days": p.window_days,
            "test_days": p.test_days,
            "revenue_coverage": p.revenue_coverage,
            "embedding_dim": p.embedding_dim,
            "epochs": p.epochs,
            "batch_size": p.batch_size,
            "learning_rate": p.learning_rate,
            "half_life_days": p.half_life_days,
        }
        transactions = spec.mapping.get("transactions")
        if transactions is not None and transactions.rules is not None and transactions.rules.active:
            defaults["rules"] = transactions.rules.model_dump_json()
        return cls(**{**defaults, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True, kw_only=True)
class PipelineContext:
    """Where a client's run reads and writes, and how its jobs run."""

    client: str
    warehouse_uri: str
    data: ObjectStore
    models: ObjectStore
    jobs: JobRunner
    mlflow_uri: str | None = None
    """The tracking server; None = ask ``start_mlflow`` when a stage first needs it."""
    start_mlflow: Callable[[], str] | None = field(default=None, compare=False)
    env: dict[str, str] = field(default_factory=dict)
    machine: MachineSpec = field(default_factory=MachineSpec)
    timeout: float = 3600.0
    """Longest a blocking ``run_pipeline`` waits for one stage's job."""
    poll: float = 0.5
    """Seconds between two polls of a running job in ``run_pipeline``."""
    stage_modules: dict[str, str] = field(default_factory=lambda: dict(STAGE_MODULES))
    """The entrypoint module each stage's job runs (``python -m``)."""
    claim_lease: float = 120.0
    """A stage claimed for submission by a driver that then vanished is claimed again after this long."""

    def tracking_uri(self) -> str:
        """The MLflow tracking URI, starting the client's local server on first use."""
        if self.mlflow_uri:
            return self.mlflow_uri
        if self.start_mlflow is None:
            raise PipelineError("no MLflow tracking server: pass --mlflow-uri (the client's MLflow server URL)")
        return self.start_mlflow()


def context_for(ctx: ClientContext, *, mlflow_uri: str | None = None) -> PipelineContext:
    """Where a client's run reads and writes: its warehouse (as a URI the stage jobs open), buckets,
    job runner and machine, and its MLflow server (``mlflow_uri`` overrides the client's). A local
    project's own server is started when a stage first needs it, so polling a run starts nothing."""
    backends = ctx.backends
    env = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    start_mlflow: Callable[[], str] | None = None
    if mlflow_uri is None:
        project = backends.local_project
        if project is not None:

            def start_mlflow() -> str:
                from trainer import mlflow_server

                return mlflow_server.start(project)

        else:

            def start_mlflow() -> str:
                return ctx.mlflow_uri

    return PipelineContext(
        client=ctx.project_id,
        warehouse_uri=backends.warehouse_uri,
        data=backends.storage("data"),
        models=backends.storage("models"),
        jobs=backends.jobs,
        mlflow_uri=mlflow_uri,
        start_mlflow=start_mlflow,
        env=env,
        machine=backends.job_machine,
    )


def stage_args(stage: str, ctx: PipelineContext, run_id: str, options: RunOptions) -> tuple[str, ...]:
    dataset = ctx.data.url(f"datasets/{run_id}")
    if stage == "extract":
        args = [
            "--warehouse",
            ctx.warehouse_uri,
            "--output",
            dataset,
            "--window-days",
            str(options.window_days),
            "--test-days",
            str(options.test_days),
            "--revenue-coverage",
            str(options.revenue_coverage),
            "--min-customers",
            str(options.min_customers),
            "--min-products",
            str(options.min_products),
        ]
        args += ["--cutoff", options.cutoff] if options.cutoff else []
        args += ["--exclude-features", ",".join(options.exclude_features)] if options.exclude_features else []
        return tuple(args + (["--rules", options.rules] if options.rules else []))
    if stage == "vocab":
        return ("--dataset", dataset)
    if stage == "train":
        args = [
            "--dataset",
            dataset,
            "--models",
            ctx.models.url(),
            "--version",
            run_id,
            "--mlflow-uri",
            ctx.tracking_uri(),
            "--experiment",
            options.experiment,
            "--model-name",
            options.model_name,
            "--epochs",
            str(options.epochs),
            "--batch-size",
            str(options.batch_size),
            "--embedding-dim",
            str(options.embedding_dim),
            "--learning-rate",
            str(options.learning_rate),
            "--half-life-days",
            str(options.half_life_days),
        ]
        return tuple(args + ([] if options.baselines else ["--no-baselines"]))
    if stage == "register":
        return (
            "--models",
            ctx.models.url(),
            "--version",
            run_id,
            "--mlflow-uri",
            ctx.tracking_uri(),
            "--model-name",
            options.model_name,
        )
    raise PipelineError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}", code="invalid_run")


def stage_outputs(stage: str, ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    if stage == "extract":
        dataset = ctx.data.url(f"datasets/{run_id}")
        key = f"datasets/{run_id}/metadata.json"
        # rows kept, malformed, rejected by the row rules, excluded products, without a customer
        rows = json.loads(ctx.data.read_text(key)).get("rows", {}) if ctx.data.exists(key) else {}
        return {"dataset": dataset, "metadata": f"{dataset}/metadata.json", "rows": rows}
    if stage == "vocab":
        return {"vocabularies": ctx.data.url(f"datasets/{run_id}/vocabularies.json")}
    key = f"{run_id}/{'train_result' if stage == 'train' else 'registered'}.json"
    result = json.loads(ctx.models.read_text(key)) if ctx.models.exists(key) else {}
    if stage == "train":
        return {
            "version": run_id,
            **result.get("outputs", {}),
            "metrics": result.get("metrics", {}),
            "baselines": result.get("baselines", {}),
            "quality": result.get("quality", {}),
        }
    return result
