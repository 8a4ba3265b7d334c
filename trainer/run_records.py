"""The record of one pipeline run, as stored in ``runs/{run_id}/state.json`` of the client's data
bucket: the run's options, each stage's status and the jobs it ran (with the times and machines
billing meters). Plain data; ``trainer.runs`` reads and changes it under compare-and-swap."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from b2brec.backends.jobs import MachineSpec
from trainer import STAGES
from trainer.errors import PipelineError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def now() -> str:
    return datetime.now(UTC).isoformat()


def check_run_id(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id or ""):
        raise PipelineError(
            f"run id {run_id!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            code="invalid_run",
        )
    return run_id


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    """Stopped after the last stage it was asked to run (``only``); resumable."""
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self not in {RunStatus.PENDING, RunStatus.RUNNING}


class StageStatus(StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    """A driver claimed the stage and is submitting its job (crash-safe: see ``trainer.runs``)."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(kw_only=True)
class JobRecord:
    """One job a stage ran: what billing meters (times, machine, accelerators)."""

    name: str
    job_id: str | None = None
    state: str = "pending"
    submitted_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    machine_type: str = ""
    accelerator_type: str | None = None
    accelerator_count: int = 0
    replica_count: int = 1

    @classmethod
    def planned(cls, name: str, machine: MachineSpec) -> JobRecord:
        return cls(
            name=name,
            machine_type=machine.machine_type,
            accelerator_type=machine.accelerator_type,
            accelerator_count=machine.accelerator_count,
            replica_count=machine.replica_count,
        )

    @property
    def seconds(self) -> float | None:
        """Run time in seconds once both ends are known."""
        if not (self.started_at and self.ended_at):
            return None
        return (datetime.fromisoformat(self.ended_at) - datetime.fromisoformat(self.started_at)).total_seconds()


@dataclass(kw_only=True)
class StageRecord:
    name: str
    status: StageStatus = StageStatus.PENDING
    attempt: int = 0
    claimed_at: str | None = None
    job: JobRecord | None = None
    earlier_jobs: list[JobRecord] = field(default_factory=list)
    """Jobs of earlier attempts (failed or cancelled ones cost money too)."""
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> list[JobRecord]:
        return [*self.earlier_jobs, *([self.job] if self.job is not None else [])]


@dataclass(kw_only=True)
class RunRecord:
    run_id: str
    client: str
    status: RunStatus = RunStatus.PENDING
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    options: dict[str, Any] = field(default_factory=dict)
    stages: list[StageRecord] = field(default_factory=lambda: [StageRecord(name=s) for s in STAGES])
    until: str | None = None
    """Last stage to run (``only`` / ``pipeline stage``); None = all."""
    error: str | None = None
    failed_stage: str | None = None
    generation: str = field(default="", compare=False)
    """The stored object's generation this record was read at (not stored)."""

    def stage(self, name: str) -> StageRecord:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PipelineError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}", code="invalid_run")

    def planned(self) -> list[StageRecord]:
        """The stages this run is asked to run, in order (up to ``until``)."""
        stop = STAGES.index(self.until) + 1 if self.until else len(STAGES)
        return [s for s in self.stages if STAGES.index(s.name) < stop]

    def next_stage(self) -> StageRecord | None:
        """The first planned stage that has not succeeded."""
        return next((s for s in self.planned() if s.status is not StageStatus.SUCCEEDED), None)

    def jobs(self) -> list[JobRecord]:
        """Every job of every stage (for metering)."""
        return [job for stage in self.stages for job in stage.jobs]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("generation")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, generation: str = "") -> RunRecord:
        if isinstance(data.get("stages"), dict):
            data = _from_legacy(data)

        def job(value: dict[str, Any] | None) -> JobRecord | None:
            return JobRecord(**value) if value else None

        stages = [
            StageRecord(
                **{
                    **s,
                    "status": StageStatus(s["status"]),
                    "job": job(s.get("job")),
                    "earlier_jobs": [JobRecord(**j) for j in s.get("earlier_jobs", [])],
                }
            )
            for s in data["stages"]
        ]
        return cls(
            **{k: v for k, v in data.items() if k not in {"stages", "status"}},
            status=RunStatus(data["status"]),
            stages=stages,
            generation=generation,
        )


def _from_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """A run recorded before run records (stages keyed by name, one ``job_id`` each), read as a record."""
    stages = []
    for name in STAGES:
        old = data["stages"].get(name, {})
        status = old.get("status", "pending")
        job = None
        if old.get("job_id"):
            job = {
                "name": f"{name}-{data['run_id']}",
                "job_id": old["job_id"],
                "state": status if status in {"succeeded", "failed", "cancelled"} else "running",
                "submitted_at": old.get("started_at"),
                "started_at": old.get("started_at"),
                "ended_at": old.get("finished_at"),
            }
        stages.append(
            {
                "name": name,
                "status": status,
                "attempt": 1 if job else 0,
                "job": job,
                "error": old.get("reason"),
                "outputs": old.get("outputs", {}),
                "args": old.get("args", []),
            }
        )
    status = data.get("status", "pending")
    return {
        "run_id": data["run_id"],
        "client": data.get("client", ""),
        "status": "failed" if status == "running" else status,  # its driver is long gone
        "created_at": data.get("created_at", now()),
        "updated_at": data.get("updated_at", now()),
        "options": data.get("options", {}),
        "stages": stages,
        "error": data.get("reason"),
        "failed_stage": data.get("failed_stage"),
    }
