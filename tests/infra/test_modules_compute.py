"""Construct tests: project, folders, network, service accounts, Cloud Run, scheduled job, budget, monitoring."""

from __future__ import annotations

import pytest

from modules.base import PropsError
from modules.budget import Budget, BudgetProps
from modules.cloud_run import DEPLOY_TOOL_OWNED, CloudRunService, CloudRunServiceProps, Egress
from modules.cloud_run_job import ScheduledJob, ScheduledJobProps
from modules.folders import Folders, FolderSpec, FoldersProps
from modules.monitoring import Monitoring, MonitoringProps, UptimeTarget
from modules.network import Network, NetworkProps
from modules.project import Project, ProjectProps
from modules.service_accounts import ServiceAccounts, ServiceAccountSpec, ServiceAccountsProps
from tests.infra.conftest import LABELS, PROJECT, REGION, has, only, synth_construct

BILLING = "01ABCD-23EF45-6789AB"
EGRESS = Egress(network="net", subnetwork="subnet")
RUNNER = f"etl-runner@{PROJECT}.iam.gserviceaccount.com"


def test_project_links_billing_folder_apis_and_strips_default_accounts() -> None:
    data = synth_construct(
        lambda s: Project(
            s,
            "p",
            ProjectProps(
                project_id=PROJECT,
                name="Acme",
                billing_account=BILLING,
                folder_id="folders/123456",
                labels=LABELS,
                services=("run.googleapis.com", "bigquery.googleapis.com"),
            ),
        )
    )
    assert has(
        data,
        "google_project",
        {
            "project_id": PROJECT,
            "folder_id": "folders/123456",
            "billing_account": BILLING,
            "auto_create_network": False,
            "deletion_policy": "PREVENT",
            "labels": LABELS,
        },
    )
    apis = sorted(s["service"] for s in data["resource"]["google_project_service"].values())
    assert apis == ["bigquery.googleapis.com", "run.googleapis.com"]
    assert has(data, "google_project_default_service_accounts", {"action": "DEPRIVILEGE"})
    assert has(data, "google_project_iam_audit_config", {"service": "allServices"})


def test_project_refuses_a_malformed_billing_account() -> None:
    props = ProjectProps(project_id=PROJECT, name="A", billing_account="abc", folder_id="folders/1", labels=LABELS)
    with pytest.raises(PropsError, match="billing account 'abc' is invalid; use the form 012345-6789AB-CDEF01"):
        synth_construct(lambda s: Project(s, "p", props))


def test_folders_are_protected_and_carry_their_iam() -> None:
    member = "group:ops@example.com"
    data = synth_construct(
        lambda s: Folders(
            s,
            "f",
            FoldersProps(
                parent="organizations/123456789",
                folders={
                    "Clients": FolderSpec(iam={"roles/resourcemanager.folderViewer": [member]}),
                    "Management": FolderSpec(),
                },
            ),
        )
    )
    names = sorted(f["display_name"] for f in data["resource"]["google_folder"].values())
    assert names == ["Clients", "Management"]
    assert has(data, "google_folder", {"display_name": "Clients", "deletion_protection": True})
    assert has(data, "google_folder_iam_member", {"role": "roles/resourcemanager.folderViewer", "member": member})


def test_network_nat_uses_only_the_reserved_static_ip() -> None:
    data = synth_construct(
        lambda s: Network(s, "n", NetworkProps(project_id=PROJECT, region=REGION, name="b2brec", labels=LABELS))
    )
    address_id = next(iter(data["resource"]["google_compute_address"]))
    nat = only(data, "google_compute_router_nat")
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == [f"${{google_compute_address.{address_id}.self_link}}"]
    assert nat["region"] == REGION
    assert has(data, "google_compute_address", {"address_type": "EXTERNAL", "region": REGION, "labels": LABELS})
    assert has(data, "google_compute_subnetwork", {"private_ip_google_access": True, "region": REGION})
    assert has(data, "google_compute_firewall", {"direction": "INGRESS", "deny": [{"protocol": "all"}]})
    assert has(data, "google_service_networking_connection", {"service": "servicenetworking.googleapis.com"})


def test_network_refuses_a_public_subnet_range() -> None:
    props = NetworkProps(project_id=PROJECT, region=REGION, name="n1", labels=LABELS, subnet_cidr="8.8.8.0/24")
    with pytest.raises(PropsError, match="subnet_cidr '8.8.8.0/24' must be private"):
        synth_construct(lambda s: Network(s, "n", props))


def test_service_accounts_get_their_roles_and_refuse_basic_ones() -> None:
    data = synth_construct(
        lambda s: ServiceAccounts(
            s,
            "sa",
            ServiceAccountsProps(
                project_id=PROJECT,
                accounts={"trainer": ServiceAccountSpec(description="t", project_roles=("roles/aiplatform.user",))},
            ),
        )
    )
    assert has(data, "google_service_account", {"account_id": "trainer", "project": PROJECT})
    assert has(data, "google_project_iam_member", {"role": "roles/aiplatform.user"})
    assert "google_service_account_key" not in data["resource"]
    bad = ServiceAccountsProps(
        project_id=PROJECT, accounts={"trainer": ServiceAccountSpec(description="t", project_roles=("roles/owner",))}
    )
    with pytest.raises(PropsError, match="basic role 'roles/owner' is not allowed; grant a predefined role"):
        synth_construct(lambda s: ServiceAccounts(s, "sa", bad))


def _service(**overrides: object) -> CloudRunServiceProps:
    props: dict = {
        "project_id": PROJECT,
        "region": REGION,
        "name": "serving",
        "service_account": f"serving@{PROJECT}.iam.gserviceaccount.com",
        "labels": LABELS,
        "egress": EGRESS,
        "min_instances": 1,
        "max_instances": 10,
        "liveness_path": "/health/live",
        "secret_env": {"B2BREC_SERVING_API_KEYS": "serving-api-keys"},
    }
    return CloudRunServiceProps(**(props | overrides))


def test_cloud_run_service_scaling_probes_egress_and_deploy_tool_owned_fields() -> None:
    data = synth_construct(
        lambda s: CloudRunService(s, "run", _service(iam={"roles/run.invoker": ["allUsers"]}, allow_public=True))
    )
    service = only(data, "google_cloud_run_v2_service")
    assert service["lifecycle"]["ignore_changes"] == list(DEPLOY_TOOL_OWNED)
    template = service["template"]
    assert template["scaling"] == {"min_instance_count": 1, "max_instance_count": 10}
    assert template["vpc_access"] == {
        "egress": "ALL_TRAFFIC",
        "network_interfaces": [{"network": "net", "subnetwork": "subnet"}],
    }
    container = template["containers"][0]
    assert container["liveness_probe"]["http_get"]["path"] == "/health/live"
    assert container["startup_probe"]["tcp_socket"]["port"] == 8080
    assert container["env"] == [
        {
            "name": "B2BREC_SERVING_API_KEYS",
            "value_source": {"secret_key_ref": {"secret": "serving-api-keys", "version": "latest"}},
        }
    ]
    assert has(data, "google_cloud_run_v2_service_iam_member", {"role": "roles/run.invoker", "member": "allUsers"})


def test_cloud_run_service_is_private_unless_public_is_explicit() -> None:
    with pytest.raises(PropsError, match="allUsers in roles/run.invoker would make it public"):
        synth_construct(lambda s: CloudRunService(s, "run", _service(iam={"roles/run.invoker": ["allUsers"]})))
    with pytest.raises(PropsError, match="default compute service account is not used"):
        synth_construct(
            lambda s: CloudRunService(s, "run", _service(service_account="1-compute@developer.gserviceaccount.com"))
        )


def test_scheduled_job_runs_in_the_vpc_and_is_triggered_by_scheduler() -> None:
    data = synth_construct(
        lambda s: ScheduledJob(
            s,
            "etl",
            ScheduledJobProps(
                project_id=PROJECT,
                region=REGION,
                name="etl",
                service_account=RUNNER,
                scheduler_service_account=RUNNER,
                labels=LABELS,
                egress=EGRESS,
                schedule="0 2 * * *",
            ),
        )
    )
    job = only(data, "google_cloud_run_v2_job")
    assert job["template"]["template"]["vpc_access"]["egress"] == "ALL_TRAFFIC"
    assert job["template"]["template"]["service_account"] == RUNNER
    trigger = only(data, "google_cloud_scheduler_job")
    assert trigger["schedule"] == "0 2 * * *" and trigger["region"] == REGION
    assert trigger["http_target"]["uri"] == (
        f"https://run.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}/jobs/etl:run"
    )
    assert trigger["http_target"]["oauth_token"]["service_account_email"] == RUNNER
    assert has(
        data, "google_cloud_run_v2_job_iam_member", {"role": "roles/run.invoker", "member": f"serviceAccount:{RUNNER}"}
    )


def test_budget_thresholds_and_channels() -> None:
    data = synth_construct(
        lambda s: Budget(
            s,
            "b",
            BudgetProps(
                billing_account=BILLING,
                display_name="client-acme-dev monthly",
                project_number="42",
                amount=300,
                currency="EUR",
                thresholds=(1.0, 0.5),
                notification_channels=("projects/p/notificationChannels/1",),
            ),
        )
    )
    budget = only(data, "google_billing_budget")
    assert budget["budget_filter"]["projects"] == ["projects/42"]
    assert budget["amount"] == {"specified_amount": {"currency_code": "EUR", "units": "300"}}
    rules = [(r["spend_basis"], r["threshold_percent"]) for r in budget["threshold_rules"]]
    assert rules == [("CURRENT_SPEND", 0.5), ("CURRENT_SPEND", 1.0), ("FORECASTED_SPEND", 1.0)]
    assert budget["all_updates_rule"]["monitoring_notification_channels"] == ["projects/p/notificationChannels/1"]


def test_monitoring_uptime_checks_and_alert_policies() -> None:
    data = synth_construct(
        lambda s: Monitoring(
            s,
            "m",
            MonitoringProps(
                project_id=PROJECT,
                labels=LABELS,
                emails={"ops": "ops@example.com"},
                uptime={"serving": UptimeTarget(url="https://serving-abc.a.run.app", path="/health/live")},
                error_rate_services=("serving",),
            ),
        )
    )
    assert has(
        data,
        "google_monitoring_notification_channel",
        {"type": "email", "labels": {"email_address": "ops@example.com"}},
    )
    check = only(data, "google_monitoring_uptime_check_config")
    assert check["http_check"]["path"] == "/health/live" and check["user_labels"] == LABELS
    names = sorted(p["display_name"] for p in data["resource"]["google_monitoring_alert_policy"].values())
    assert names == ["serving 5xx responses", "serving is down"]
    with pytest.raises(PropsError, match="email ops='nope' is not an email address"):
        synth_construct(
            lambda s: Monitoring(s, "m", MonitoringProps(project_id=PROJECT, labels=LABELS, emails={"ops": "nope"}))
        )
