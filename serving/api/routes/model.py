"""``GET /model-info``: what is serving now, how it was trained, and how good its index is."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from serving.api.responses import ok
from serving.deps import ApiKeyDep, ModelDep, RegistryDep
from serving.model.state import ModelState
from serving.schemas import Envelope, ErrorEnvelope, ModelInfo

router = APIRouter(tags=["model"], dependencies=[ApiKeyDep])


def model_info(state: ModelState, previous: str | None) -> dict[str, object]:
    manifest = asdict(state.manifest)
    approx = state.approximate
    paths = {"single_requests": state.index_for(1).kind, "batches": state.index_for(2).kind}
    index = paths | (
        {
            "kind": approx.kind,
            "products": state.n_products,
            "recall_at_100": approx.recall_at_100,
            "nprobe": approx.nprobe,
            "nlist": approx.nlist,
        }
        if approx is not None
        else {"kind": "exact", "products": state.n_products, "recall_at_100": 1.0, "nprobe": None, "nlist": None}
    )
    return {
        "model_version": state.version,
        "previous_version": previous,
        "trained_at": manifest["trained_at"],
        "metrics": manifest["metrics"],
        "data_window": manifest["data_window"],
        "features": manifest["features"],
        "embedding_dim": manifest["embedding_dim"],
        "customers": len(state.customer_rows),
        "index": index,
        "loaded_at": state.loaded_at,
        "load_seconds": state.load_seconds,
    }


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorEnvelope} for code in (401, 403, 503)}


@router.get("/model-info", response_model=Envelope[ModelInfo], responses=ERRORS)
def get_model_info(state: ModelDep, registry: RegistryDep) -> object:
    return ok(f"serving model {state.version}", model_info(state, registry.previous_version))
