"""The operator's allow-list of private source networks reaches GCP: each client's ETL job and client app
(web and worker) get that client's entries only, from the platform file (never the ClientSpec), and the
control plane gets every client's, so its onboarding connection test allows what the ETL job will."""

from __future__ import annotations

import json

import pytest

from b2brec.settings import Settings
from stacks.platform import PlatformConfig
from tests.images.runtime import containers
from tests.infra.conftest import Synthesized

ENV = "B2BREC_SOURCE_HOSTS_ALLOWED"


def test_a_clients_etl_job_and_app_get_its_own_allow_list_only(
    stacks: dict[str, Synthesized], platform: PlatformConfig
) -> None:
    assert platform.source_hosts_allowed, "stacks/platform.yaml lists one client's VPN network (the example)"
    for name, stack in stacks.items():
        if stack.spec is None:
            continue
        entries = platform.source_hosts_allowed.get(stack.spec.client_id)
        runtimes = containers(name, stack.data)
        for key in (("job", "etl"), ("service", "client-app"), ("pool", "client-app-worker")):
            env = runtimes[key].env
            if not entries:
                assert ENV not in env, (name, key)
                continue
            assert json.loads(env[ENV]) == {stack.spec.client_id: list(entries)}, (name, key)
            # what the deployable reads back: the client's entries, nobody else's
            read = Settings.model_validate({"source_hosts_allowed": json.loads(env[ENV])})
            assert read.allowed_hosts(stack.spec.client_id) == tuple(entries)
        for key, runtime in runtimes.items():  # serving and MLflow never connect to sources
            if key not in {("job", "etl"), ("service", "client-app"), ("pool", "client-app-worker")}:
                assert ENV not in runtime.env, (name, key)
    assert any(s.spec and s.spec.client_id in platform.source_hosts_allowed for s in stacks.values())


def test_the_control_plane_gets_every_clients_entries(stacks: dict[str, Synthesized], platform: PlatformConfig) -> None:
    (control_plane,) = [s for s in stacks.values() if s.spec is None and "control" in s.name]
    for runtime in containers(control_plane.name, control_plane.data).values():
        assert json.loads(runtime.env[ENV]) == {c: list(e) for c, e in platform.source_hosts_allowed.items()}


@pytest.mark.parametrize("entries", [["not a host"], ["db@not-a-network"], ["http://10.0.0.1"]])
def test_bad_entries_in_the_platform_file_are_refused(platform: PlatformConfig, entries: list[str]) -> None:
    data = {**platform.model_dump(), "source_hosts_allowed": {"acme-001": entries}}
    with pytest.raises(ValueError, match="acme-001"):
        PlatformConfig.model_validate(data)
