"""The client app reads what the client stack gives its Cloud Run service: the project, the
Cloud SQL wiring (IAM user, private IP) and the secret key from Secret Manager. Synthesized for
every client environment; the app's settings are built from that environment, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from b2brec.spec import list_environments
from client_app.config import AppConfig
from client_app.database import CLOUD_SQL_URL, cloud_sql_connect_args
from stacks.platform import load_platform
from stacks.synth import quiet_jsii, resolve_targets, synthesize

pytestmark = pytest.mark.slow
ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


def _client_app_container(stack: dict[str, Any]) -> dict[str, Any]:
    services = stack["resource"]["google_cloud_run_v2_service"]
    (service,) = [s for s in services.values() if s["name"] == "client-app"]
    (container,) = service["template"]["containers"]
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
        secret = {item["name"]: item["value_source"] for item in container["env"] if "value_source" in item}
        assert "B2BREC_SECRET_KEY" in secret, f"{name}: the app's secret key must come from Secret Manager"
        assert secret["B2BREC_SECRET_KEY"]["secret_key_ref"]["version"] == "latest"
        config = AppConfig(**plain, B2BREC_SECRET_KEY="k" * 48)  # the value Cloud Run injects at start
        assert config.client == plain["B2BREC_GCP_PROJECT"]
        assert config.secret_key is not None
        args = cloud_sql_connect_args(config)
        assert args == {
            "instance_connection_string": plain["B2BREC_SQL_CONNECTION"],
            "driver": "pg8000",
            "user": plain["B2BREC_SQL_USER"],
            "db": "app",
            "enable_iam_auth": True,
            "ip_type": "private",
        }, name
        assert config.database_url is None and CLOUD_SQL_URL.startswith("postgresql+pg8000")


def test_a_placeholder_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        AppConfig(client="demo-dev", B2BREC_SECRET_KEY="change-me")
