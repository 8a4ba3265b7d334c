"""The ClientSpec's infra section and the example environments."""

from __future__ import annotations

import pytest

from b2brec.spec import SpecError, list_environments, load_environment, parse_spec
from b2brec.spec.infra import InfraSettings
from tests.infra.conftest import ENVIRONMENTS

BASE = {"client_id": "acme-001", "name": "Acme", "env": "dev", "region": "europe-west1", "created": "2026-01-01"}


def test_example_environments_validate_and_keep_their_data_in_region() -> None:
    assert {"template-dev", "nordhandel-prod", "prairie-supply-dev"} <= set(list_environments(ENVIRONMENTS))
    eu = load_environment(ENVIRONMENTS, "nordhandel-prod")
    us = load_environment(ENVIRONMENTS, "prairie-supply-dev")
    assert (eu.region, eu.project_id) == ("europe-west3", "client-nordhandel-gmbh-prod")
    assert (us.region, us.project_id) == ("us-central1", "client-prairie-supply-co-dev")
    assert eu.infra.sql.availability == "REGIONAL" and eu.infra.budget.currency == "EUR"


def test_infra_defaults_apply_when_the_section_is_absent() -> None:
    infra = parse_spec(BASE, origin="test").infra
    assert infra == InfraSettings()
    assert (infra.scaling.serving.min_instances, infra.scaling.serving.max_instances) == (1, 10)
    assert infra.budget.thresholds == (0.5, 0.9, 1.0) and infra.folder_id is None


@pytest.mark.parametrize(
    ("infra", "message"),
    [
        ({"scaling": {"serving": {"min_instances": 5, "max_instances": 2}}}, "min_instances \\(5\\) exceeds"),
        ({"alert_emails": {"ops": "not-an-email"}}, "'not-an-email' is not an email address"),
        ({"folder_id": "clients"}, "use a numeric folder id such as folders/123456789012"),
        ({"budget": {"currency": "euro"}}, "use an ISO 4217 currency code"),
        ({"sql": {"availability": "GLOBAL"}}, "use ZONAL or REGIONAL"),
    ],
)
def test_bad_infra_values_name_the_field_and_the_fix(infra: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec({**BASE, "infra": infra}, origin="test.yaml")


def test_a_bare_folder_number_is_normalised() -> None:
    assert InfraSettings(folder_id="123456789012").folder_id == "folders/123456789012"
