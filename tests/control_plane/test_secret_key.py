"""Where the control plane's Flask key comes from: configured, per-home file (local dev), or Secret Manager
on GCP (so the stack injects no secret version and the first apply works)."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2brec.errors import B2BRecError
from b2brec.settings import Settings
from control_plane.app import _secret_key
from control_plane.settings import ControlPlaneSettings


def test_a_configured_key_wins(tmp_path: Path) -> None:
    settings = ControlPlaneSettings(secret_key="k" * 48, local_dev=False)
    assert _secret_key(settings, Settings(home=tmp_path)) == "k" * 48


def test_a_placeholder_key_is_refused() -> None:
    with pytest.raises(ValueError, match="B2BREC_CP_SECRET_KEY is unset or a placeholder"):
        ControlPlaneSettings(secret_key="change-me", local_dev=False)


def test_outside_gcp_and_local_dev_a_missing_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="B2BREC_CP_SECRET_KEY is unset or a placeholder"):
        _secret_key(ControlPlaneSettings(local_dev=False), Settings(home=tmp_path, backend="local"))


def test_on_gcp_the_key_needs_the_project_to_read_it_from(tmp_path: Path) -> None:
    with pytest.raises(B2BRecError, match="B2BREC_GCP_PROJECT is unset"):
        _secret_key(ControlPlaneSettings(local_dev=False), Settings(home=tmp_path, backend="gcp", gcp_project=None))


def test_local_dev_keeps_one_random_key_per_home(tmp_path: Path) -> None:
    first = _secret_key(ControlPlaneSettings(local_dev=True), Settings(home=tmp_path))
    assert len(first) == 64 and first == _secret_key(ControlPlaneSettings(local_dev=True), Settings(home=tmp_path))
