"""Property-based checks from the OpenAPI schema (schemathesis), **every** check enabled: no 5xx,
responses match the schema, malformed and out-of-range inputs get 4xx, schema-valid inputs are
accepted (the server rejects nothing the schema admits: ``k: 13.0``, empty ids, ``registered: "0"``
and both deploy targets are stated in the schema), operations that declare credentials refuse calls
without them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import write_bundle
from b2brec.settings import Settings
from serving.app import create_app
from serving.config import ServingSettings
from serving.model.loader import BundleSource
from serving.model.registry import ModelRegistry
from serving.synthetic import synthetic_bundle

API_KEY = "schemathesis-key-0123456789"


def _app():  # noqa: ANN202
    root = Path(tempfile.mkdtemp(prefix="b2brec-schemathesis-"))
    store = ObjectStore((root / "models").as_uri())
    write_bundle(store, synthetic_bundle("v1", n_products=300, n_customers=50))
    serving = ServingSettings(version="v1", api_keys=API_KEY)
    registry = ModelRegistry(BundleSource(store), serving)
    registry.deploy("v1")  # loaded up front: the ASGI test transport does not run the lifespan
    return create_app(Settings(home=root / "home"), serving, registry=registry)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


EXAMPLES = int(os.environ.get("B2BREC_SCHEMATHESIS_EXAMPLES", "25"))
"""Examples per operation; 25 in `make test`, more for a deeper run (0 failures at 200)."""


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # With the key; schemathesis's ignored_auth check also replays each call without it (and with a
    # wrong one) and fails if a protected operation answers anything but 401/403.
    case.call_and_validate(headers={"X-API-Key": API_KEY})
