"""Run the four stages as jobs (subprocesses locally, Vertex AI CustomJobs on GCP), record the run's
state in the data bucket (``runs/{run_id}/state.json``) and resume a failed run from its failed stage.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from b2brec.backends.jobs import JobRunner, JobSpec, JobState, MachineSpec, wait
from b2brec.backends.storage import ObjectStore
from b2brec.context import ClientContext
from b2brec.spec import ClientSpec
from trainer import STAGE_MODULES, STAGES
from trainer.errors import PipelineError
from trainer.stage import stage_reason

Event = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Options a run keeps for its whole life (a resumed run uses the same)."""

    cutoff: str | None = None
    window_days: int = 730
    test_days: int = 14
    revenue_coverage: float = 1.0
    min_customers: int = 5
    min_products: int = 5
    epochs: int = 8
    batch_size: int = 512
    embedding_dim: int = 64
    learning_rate: float = 0.01
    baselines: bool = True
    model_name: str = "two-tower"
    experiment: str = "b2brec"

    @classmethod
    def from_spec(cls, spec: ClientSpec, **overrides: Any) -> RunOptions:
        p = spec.pipeline
        defaults = {
            "window_days": p.window_days,
            "test_days": p.test_days,
            "revenue_coverage": p.revenue_coverage,
            "embedding_dim": p.embedding_dim,
            "epochs": p.epochs,
            "batch_size": p.batch_size,
            "learning_rate": p.learning_rate,
        }
        return cls(**{**defaults, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass(frozen=True, kw_only=True)
class PipelineContext:
    """Where a client's run reads and writes, and how its jobs run."""

    client: str
    warehouse_uri: str
    data: ObjectStore
    models: ObjectStore
    jobs: JobRunner
    mlflow_uri: str
    env: dict[str, str] = field(default_factory=dict)
    machine: MachineSpec = field(default_factory=MachineSpec)
    timeout: float = 3600.0
    poll: float = 0.5


def context_for(ctx: ClientContext, *, mlflow_uri: str | None = None) -> PipelineContext:
    """Where a client's run reads and writes: its warehouse (as a URI the stage jobs open), buckets,
    job runner and machine, and its MLflow server (``mlflow_uri`` overrides the client's; a local
    project's own server is started when it is the one used)."""
    backends = ctx.backends
    env = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if mlflow_uri is None:
        project = backends.local_project
        if project is not None:
            from trainer import mlflow_server

            mlflow_uri = mlflow_server.start(project)
        else:
            mlflow_uri = ctx.mlflow_uri
    return PipelineContext(
        client=ctx.project_id,
        warehouse_uri=backends.warehouse_uri,
        data=backends.storage("data"),
        models=backends.storage("models"),
        jobs=backends.jobs,
        mlflow_uri=mlflow_uri,
        env=env,
        machine=backends.job_machine,
    )


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def state_key(run_id: str) -> str:
    return f"runs/{run_id}/state.json"


def load_state(data: ObjectStore, run_id: str) -> dict[str, Any]:
    if not data.exists(state_key(run_id)):
        known = sorted({k.split("/")[1] for k in data.list("runs/") if k.endswith("state.json")})
        raise PipelineError(f"no pipeline run {run_id!r} (known: {', '.join(known[-5:]) or 'none'})")
    return json.loads(data.read_text(state_key(run_id)))


def list_runs(data: ObjectStore) -> list[dict[str, Any]]:
    return [json.loads(data.read_text(k)) for k in data.list("runs/") if k.endswith("/state.json")]


def _save(data: ObjectStore, state: dict[str, Any]) -> None:
    state["updated_at"] = _now()
    data.write_text(state_key(state["run_id"]), json.dumps(state, indent=2, sort_keys=True))


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
        return tuple(args + (["--cutoff", options.cutoff] if options.cutoff else []))
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
            ctx.mlflow_uri,
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
        ]
        return tuple(args + ([] if options.baselines else ["--no-baselines"]))
    if stage == "register":
        return (
            "--models",
            ctx.models.url(),
            "--version",
            run_id,
            "--mlflow-uri",
            ctx.mlflow_uri,
            "--model-name",
            options.model_name,
        )
    raise PipelineError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")


def stage_outputs(stage: str, ctx: PipelineContext, run_id: str) -> dict[str, Any]:
    if stage == "extract":
        dataset = ctx.data.url(f"datasets/{run_id}")
        return {"dataset": dataset, "metadata": f"{dataset}/metadata.json"}
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


def run_pipeline(
    ctx: PipelineContext,
    *,
    options: RunOptions | None = None,
    run_id: str | None = None,
    from_stage: str | None = None,
    only: str | None = None,
    on_event: Event | None = None,
) -> dict[str, Any]:
    """Run (or resume) a pipeline run; returns its final state. Raises PipelineError when a stage fails
    (the state then says which stage, why, and keeps the earlier stages' outputs)."""
    for name, value in (("--from-stage", from_stage), ("stage", only)):
        if value is not None and value not in STAGES:
            raise PipelineError(f"{name} {value!r} is not a stage; use one of {', '.join(STAGES)}")
    if run_id is not None and ctx.data.exists(state_key(run_id)):
        state = load_state(ctx.data, run_id)
        options = RunOptions(**state["options"])
    else:
        if from_stage not in (None, STAGES[0]) or only not in (None, STAGES[0]):
            raise PipelineError("a new run starts at the extract stage; pass --run-id of an earlier run to resume")
        run_id = run_id or new_run_id()
        options = options or RunOptions()
        state = {
            "run_id": run_id,
            "client": ctx.client,
            "status": "pending",
            "created_at": _now(),
            "options": asdict(options),
            "stages": {s: {"status": "pending"} for s in STAGES},
        }
    stages = _stages_to_run(state, from_stage, only)
    state["status"] = "running"
    state.pop("reason", None)
    _save(ctx.data, state)
    for stage in stages:
        record = state["stages"][stage]
        spec = JobSpec(
            name=f"{stage}-{run_id}",
            module=STAGE_MODULES[stage],
            args=stage_args(stage, ctx, run_id, options),
            env=ctx.env,
            machine=ctx.machine,
        )
        job_id = ctx.jobs.submit(spec)
        record.update(status="running", job_id=job_id, started_at=_now(), reason=None, args=list(spec.args))
        _save(ctx.data, state)
        _emit(on_event, stage, "running", record)
        status = wait(ctx.jobs, job_id, timeout=ctx.timeout, poll=ctx.poll)
        record["finished_at"] = _now()
        if status.state is not JobState.SUCCEEDED:
            record.update(status="failed", reason=stage_reason(status.message))
            state.update(status="failed", failed_stage=stage, reason=f"{stage}: {record['reason']}")
            _save(ctx.data, state)
            _emit(on_event, stage, "failed", record)
            raise PipelineError(
                f"stage {stage} of run {run_id} failed: {record['reason']}\n"
                f"fix the cause, then resume with --run-id {run_id} (it restarts at {stage})"
            )
        record.update(status="succeeded", outputs=stage_outputs(stage, ctx, run_id))
        _save(ctx.data, state)
        _emit(on_event, stage, "succeeded", record)
    done = all(state["stages"][s]["status"] == "succeeded" for s in STAGES)
    state["status"] = "succeeded" if done else "partial"
    state.pop("failed_stage", None)
    _save(ctx.data, state)
    return state


def _stages_to_run(state: dict[str, Any], from_stage: str | None, only: str | None) -> list[str]:
    if only is not None:
        start, stop = STAGES.index(only), STAGES.index(only) + 1
    elif from_stage is not None:
        start, stop = STAGES.index(from_stage), len(STAGES)
    else:
        pending = [s for s in STAGES if state["stages"][s]["status"] != "succeeded"]
        if not pending:
            raise PipelineError(f"run {state['run_id']} already succeeded; start a new run (no --run-id)")
        start, stop = STAGES.index(pending[0]), len(STAGES)
    missing = [s for s in STAGES[:start] if state["stages"][s]["status"] != "succeeded"]
    if missing:
        raise PipelineError(
            f"run {state['run_id']}: stage {missing[0]} has not succeeded yet; resume from {missing[0]} first"
        )
    return list(STAGES[start:stop])


def _emit(on_event: Event | None, stage: str, status: str, record: dict[str, Any]) -> None:
    if on_event is not None:
        on_event(stage, status, record)
