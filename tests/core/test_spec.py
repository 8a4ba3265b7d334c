"""ClientSpec: naming rules from the seed, and errors that name file, field, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from b2brec.naming import project_id, sanitize_name
from b2brec.spec import SpecError, list_environments, load_environment, load_spec
from tests.conftest import REPO_ROOT

ENVIRONMENTS = REPO_ROOT / "environments"


def _demo_data() -> dict:
    return yaml.safe_load((ENVIRONMENTS / "demo-dev.yaml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "client.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("name", list_environments(ENVIRONMENTS))
def test_every_shipped_environment_is_valid(name: str) -> None:
    spec = load_environment(ENVIRONMENTS, name)
    assert spec.project_id.startswith("client-")
    assert len(spec.project_id) <= 30


def test_naming_rules_of_the_seed() -> None:
    spec = load_environment(ENVIRONMENTS, "demo-dev")
    assert spec.sanitized_name == "demo-wholesale"
    assert spec.project_id == "client-demo-wholesale-dev"
    assert spec.bucket("models") == "client-demo-wholesale-dev-models"
    assert spec.datasets == ("raw_data", "features", "ml_datasets", "predictions")
    assert set(spec.standard_labels) == {"client_id", "template_version", "environment", "cost_center", "created_date"}
    assert spec.standard_labels["created_date"] == "2026-11-26"
    assert spec.all_labels["team"] == "platform"


def test_sanitize_and_truncate() -> None:
    assert sanitize_name("Müller & Söhne GmbH.") == "muller-sohne-gmbh"
    long_id = project_id(sanitize_name("A Very Long Wholesale Company Name Indeed"), "prod")
    assert len(long_id) <= 30 and long_id.endswith("-prod") and not long_id.endswith("--prod")


def test_bad_enum_names_file_field_value_and_allowed(tmp_path: Path) -> None:
    data = _demo_data()
    data["env"] = "production"
    path = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message
    assert "field 'env'" in message
    assert "'production'" in message
    assert "'dev', 'staging' or 'prod'" in message


def test_unknown_platform_column_lists_allowed(tmp_path: Path) -> None:
    data = _demo_data()
    data["mapping"]["products"]["columns"]["colour"] = "farbe"
    with pytest.raises(SpecError, match=r"unknown platform columns \['colour'\]; allowed: \['product_id'"):
        load_spec(_write(tmp_path, data))


def test_missing_required_column_and_unknown_source(tmp_path: Path) -> None:
    data = _demo_data()
    del data["mapping"]["transactions"]["columns"]["customer_id"]
    with pytest.raises(SpecError, match=r"required columns \['customer_id'\] are not mapped"):
        load_spec(_write(tmp_path, data))
    data = _demo_data()
    data["mapping"]["customers"]["source"] = "crm"
    with pytest.raises(SpecError, match=r"'crm' is not one of sources \['erp'\]"):
        load_spec(_write(tmp_path, data))


def test_revenue_may_be_derived_from_quantity_and_price(tmp_path: Path) -> None:
    data = _demo_data()
    del data["mapping"]["transactions"]["columns"]["revenue"]
    assert load_spec(_write(tmp_path, data)).mapping["transactions"].columns["quantity"] == "quantity"
    del data["mapping"]["products"]["columns"]["price"]
    with pytest.raises(SpecError, match=r"map revenue, derive it \(derived: .*\), or map quantity here and price"):
        load_spec(_write(tmp_path, data))


def test_server_source_needs_host_and_never_takes_a_password(tmp_path: Path) -> None:
    data = _demo_data()
    data["sources"]["erp"] = {"kind": "postgresql", "database": "erp", "username": "reader"}
    with pytest.raises(SpecError, match="a postgresql source needs host"):
        load_spec(_write(tmp_path, data))
    data["sources"]["erp"] = {"kind": "postgresql", "host": "db", "database": "erp", "username": "u", "password": "x"}
    with pytest.raises(SpecError, match="field 'sources.erp.password': not a known field"):
        load_spec(_write(tmp_path, data))


def test_bad_yaml_and_bad_cron_and_window(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("client_id: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(path)
    data = _demo_data()
    data["etl"]["schedule"] = "every night"
    data["pipeline"]["window_days"] = 90
    data["pipeline"]["test_days"] = 120
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, data))
    assert "5-field cron" in str(err.value)
    assert "test_days (120) must be less than window_days (90)" in str(err.value)


def test_unknown_environment_lists_known() -> None:
    with pytest.raises(SpecError, match="known: .*demo-dev"):
        load_environment(ENVIRONMENTS, "nope")
