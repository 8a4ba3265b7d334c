"""The client app reads what the client stack gives its Cloud Run service: the client's spec and
the Cloud SQL URL (through the Auth Proxy sidecar, IAM authentication); its secret key comes from
the secret the stack lets it write. Synthesized for every client environment; the app's settings
are built from that environment, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from b2brec.settings import Settings
from b2brec.spec import list_environments, parse_spec
from client_app.app import SECRET_KEY_NAME
from client_app.client import ClientRuntime
from client_app.config import AppConfig
from stacks.platform import load_platform
from stacks.synth import quiet_jsii, resolve_targets, synthesize

pytestmark = pytest.mark.slow
ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


def _client_app_container(stack: dict[str, Any]) -> dict[str, Any]:
    services = stack["resource"]["google_cloud_run_v2_service"]
    (service,) = [s for s in services.values() if s["name"] == "client-app"]
    # the app's own container; the Cloud SQL Auth Proxy runs beside it as a sidecar
    (container,) = [c for c in service["template"]["containers"] if c.get("name") == "client-app"]
    return container


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("synth")
    targets = [t for t in resolve_targets(ENVIRONMENTS, all_=True) if t.spec is not None]
    quiet_jsii()
    synthesize(targets, load_platform(), out)
    return {t.name: json.loads((out / t.name / "cdk.tf.json").read_text()) for t in targets}


def test_the_app_settings_come_from_the_stacks_environment(stacks: dict[str, dict[str, Any]]) -> None:
    assert set(stacks) == set(list_environments(ENVIRONMENTS))
    for name, stack in stacks.items():
        container = _client_app_container(stack)
        plain = {item["name"]: item["value"] for item in container["env"] if "value" in item}
        config = AppConfig(**plain)
        spec = parse_spec(json.loads(plain["B2BREC_CLIENT_SPEC"]), origin=name)
        runtime = ClientRuntime(config, Settings(**{"backend": plain["B2BREC_BACKEND"]}))
        assert runtime.name == spec.project_id, name
        assert config.database_url == plain["B2BREC_DATABASE_URL"]
        assert config.database_url.startswith("postgresql+psycopg://") and ":5432/app" in config.database_url
        assert config.secret_key is None  # read from (or created in) the client-app-secret-key secret
        secret = stack["resource"]["google_secret_manager_secret"]
        assert any(s["secret_id"] == SECRET_KEY_NAME for s in secret.values()), f"{name}: no {SECRET_KEY_NAME}"


def test_a_placeholder_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        AppConfig(client="demo-dev", B2BREC_SECRET_KEY="change-me")


def test_the_app_needs_a_client_or_a_spec() -> None:
    with pytest.raises(ValueError, match="B2BREC_APP_CLIENT"):
        AppConfig()
