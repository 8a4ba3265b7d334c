"""Monitoring that tells someone: e-mail channels, uptime checks of public endpoints, and alerts on
what breaks a client's night without anyone noticing: a share of 5xx answers (with a minimum count,
so one error on a quiet B2B API does not page and a real outage does), a failed or missing nightly
ETL run, a failed training job, Cloud SQL CPU and disk, and NAT packet drops and port allocation failures
(port exhaustion)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn import Fn
from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyAlertStrategyNotificationRateLimit,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionMatchedLog,
    MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from cdktn_provider_google.monitoring_uptime_check_config import (
    MonitoringUptimeCheckConfig,
    MonitoringUptimeCheckConfigHttpCheck,
    MonitoringUptimeCheckConfigMonitoredResource,
)
from constructs import Construct

from modules.base import PropsError, key, require_labels, require_project

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class UptimeTarget:
    url: str
    """``https://host`` of the endpoint (a Cloud Run ``uri`` token is fine)."""
    path: str = "/healthz"


@dataclass(frozen=True, kw_only=True)
class MonitoringProps:
    project_id: str
    labels: dict[str, str]
    emails: dict[str, str] = field(default_factory=dict)
    """Alert recipients keyed by a stable name."""
    uptime: dict[str, UptimeTarget] = field(default_factory=dict)
    """Public endpoints to probe every minute, keyed by service name."""
    error_rate_services: tuple[str, ...] = ()
    """Cloud Run services whose 5xx responses raise an alert."""
    error_ratio: float = 0.05
    """Alert when more than this share of a service's answers over 10 minutes are 5xx ..."""
    error_min_count: int = 5
    """... and there were at least this many of them (a quiet API's single error is not an outage)."""
    nightly_jobs: tuple[str, ...] = ()
    """Cloud Run jobs that must succeed at least once every ``nightly_max_gap_hours``; a failed execution alerts too."""
    nightly_max_gap_hours: int = 26
    """A daily job is missing once no execution succeeded for this long (a day plus slack)."""
    training_jobs: bool = False
    """Alert on Vertex AI custom jobs that log an error or a failed pipeline stage."""
    sql_instance: str | None = None
    """Cloud SQL instance name whose CPU and disk utilization alert above ``sql_utilization``."""
    sql_utilization: float = 0.85
    nat_gateway: str | None = None
    """Cloud NAT gateway whose dropped packets and port allocation failures (out of ports / resources) alert."""


class Monitoring(Construct):
    def __init__(self, scope: Construct, id_: str, props: MonitoringProps) -> None:
        super().__init__(scope, id_)
        require_project(props.project_id, "monitoring")
        labels = require_labels(props.labels, "monitoring")
        for name, email in props.emails.items():
            if not _EMAIL.match(email):
                raise PropsError(f"monitoring: email {name}={email!r} is not an email address")
        if not 0 < props.error_ratio < 1 or props.error_min_count < 1:
            raise PropsError("monitoring: error_ratio must be in (0, 1) and error_min_count at least 1")
        if not 2 <= props.nightly_max_gap_hours <= 24 * 8:
            raise PropsError("monitoring: nightly_max_gap_hours must be 2..192")
        for name, target in props.uptime.items():
            if not (target.url.startswith("https://") or target.url.startswith("${")) or not target.path.startswith(
                "/"
            ):
                raise PropsError(f"monitoring: uptime {name} needs an https:// url and a path starting with /")

        self.channels = {
            name: MonitoringNotificationChannel(
                self,
                key("email", name),
                project=props.project_id,
                display_name=f"{name} ({props.project_id})",
                type="email",
                labels={"email_address": props.emails[name]},
                user_labels=labels,
            )
            for name in sorted(props.emails)
        }
        self.channel_ids = [self.channels[name].name for name in sorted(self.channels)]
        strategy = MonitoringAlertPolicyAlertStrategy(auto_close="1800s")
        self.uptime_checks: dict[str, MonitoringUptimeCheckConfig] = {}
        for name in sorted(props.uptime):
            target = props.uptime[name]
            check = MonitoringUptimeCheckConfig(
                self,
                key("uptime", name),
                project=props.project_id,
                display_name=f"{name} uptime",
                timeout="10s",
                period="60s",
                user_labels=labels,
                http_check=MonitoringUptimeCheckConfigHttpCheck(
                    path=target.path, port=443, use_ssl=True, validate_ssl=True
                ),
                monitored_resource=MonitoringUptimeCheckConfigMonitoredResource(
                    type="uptime_url",
                    labels={"project_id": props.project_id, "host": Fn.replace(target.url, "https://", "")},
                ),
            )
            self.uptime_checks[name] = check
            self._policy(
                key("uptime_alert", name),
                props,
                labels,
                strategy,
                display_name=f"{name} is down",
                doc=f"The uptime check of {name} failed from several locations for 5 minutes.",
                condition=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=(
                        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" '
                        f'AND resource.type="uptime_url" AND metric.label.check_id="{check.uptime_check_id}"'
                    ),
                    comparison="COMPARISON_GT",
                    threshold_value=1,
                    duration="300s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="60s",
                            per_series_aligner="ALIGN_NEXT_OLDER",
                            cross_series_reducer="REDUCE_COUNT_FALSE",
                            group_by_fields=["resource.label.host"],
                        )
                    ],
                ),
            )
        for service in sorted(set(props.error_rate_services)):
            selector = f'monitored_resource="cloud_run_revision",service_name="{service}"'
            errors = f'sum(increase(run_googleapis_com:request_count{{{selector},response_code_class="5xx"}}[10m]))'
            total = f"sum(increase(run_googleapis_com:request_count{{{selector}}}[10m]))"
            self._promql(
                key("errors_alert", service),
                props,
                labels,
                strategy,
                display_name=f"{service} 5xx responses",
                doc=(
                    f"More than {props.error_ratio:.0%} of the answers of Cloud Run service {service} over 10 minutes "
                    f"were 5xx, and at least {props.error_min_count} of them. Check its logs and the last deploy."
                ),
                query=f"({errors} / {total}) > {props.error_ratio} and {errors} >= {props.error_min_count}",
            )
        for job in sorted(set(props.nightly_jobs)):
            selector = f'monitored_resource="cloud_run_job",job_name="{job}"'
            self._promql(
                key("job_failed_alert", job),
                props,
                labels,
                strategy,
                display_name=f"{job} run failed",
                doc=f"An execution of Cloud Run job {job} failed. Its logs name the source or check that failed.",
                query=(
                    "sum(increase(run_googleapis_com:job_completed_execution_count"
                    f'{{{selector},result="failed"}}[1h])) > 0'
                ),
            )
            hours = props.nightly_max_gap_hours
            self._promql(
                key("job_missing_alert", job),
                props,
                labels,
                strategy,
                display_name=f"{job} did not run",
                doc=(
                    f"No execution of Cloud Run job {job} succeeded in {hours} hours: the scheduler did not fire, "
                    "or every run failed. Check Cloud Scheduler and the job's executions."
                ),
                query=(
                    f"(sum(increase(run_googleapis_com:job_completed_execution_count"
                    f'{{{selector},result="succeeded"}}[{hours}h])) or vector(0)) < 1'
                ),
            )
        if props.training_jobs:
            self._log_policy(
                "training_failed_alert",
                props,
                labels,
                display_name="training job failed",
                doc="A Vertex AI training job logged an error or a failed pipeline stage (STAGE_ERROR).",
                log_filter='resource.type="ml_job" AND (severity>=ERROR OR textPayload:"STAGE_ERROR:")',
            )
        if props.sql_instance:
            for what, metric in (("cpu", "cpu/utilization"), ("disk", "disk/utilization")):
                self._policy(
                    key("sql_alert", what),
                    props,
                    labels,
                    strategy,
                    display_name=f"Cloud SQL {what} above {props.sql_utilization:.0%}",
                    doc=(
                        f"Cloud SQL {props.sql_instance}: {what} utilization above {props.sql_utilization:.0%} "
                        "for 15 minutes. Raise infra.sql.tier (CPU) or check what grows (disk grows by itself "
                        "but costs, and stops at its limit)."
                    ),
                    condition=MonitoringAlertPolicyConditionsConditionThreshold(
                        filter=(
                            f'metric.type="cloudsql.googleapis.com/database/{metric}" '
                            'AND resource.type="cloudsql_database" '
                            f'AND resource.label.database_id="{props.project_id}:{props.sql_instance}"'
                        ),
                        comparison="COMPARISON_GT",
                        threshold_value=props.sql_utilization,
                        duration="900s",
                        aggregations=[
                            MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                                alignment_period="300s", per_series_aligner="ALIGN_MEAN"
                            )
                        ],
                    ),
                )
        if props.nat_gateway:
            self._policy(
                "nat_drops_alert",
                props,
                labels,
                strategy,
                display_name="NAT dropping packets",
                doc=(
                    f"Cloud NAT {props.nat_gateway} dropped outbound packets for lack of ports or resources: "
                    "connections to client databases fail. Raise the NAT's minimum ports per VM."
                ),
                condition=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=(
                        'metric.type="router.googleapis.com/nat/dropped_sent_packets_count" '
                        f'AND resource.type="nat_gateway" AND resource.label.gateway_name="{props.nat_gateway}"'
                    ),
                    comparison="COMPARISON_GT",
                    threshold_value=0,
                    duration="300s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="60s", per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM"
                        )
                    ],
                ),
            )
            self._policy(
                "nat_allocation_alert",
                props,
                labels,
                strategy,
                display_name="NAT cannot allocate ports",
                doc=(
                    f"Cloud NAT {props.nat_gateway} failed to allocate NAT ports or IPs to a workload: its new "
                    "outbound connections (client databases, APIs) fail. Raise the NAT's minimum ports per VM; "
                    "the reserved egress IP is the only one clients allow-list, so do not add addresses."
                ),
                condition=MonitoringAlertPolicyConditionsConditionThreshold(
                    # a BOOL gauge, true while any endpoint of the gateway lacks an allocation
                    filter=(
                        'metric.type="router.googleapis.com/nat/nat_allocation_failed" '
                        f'AND resource.type="nat_gateway" AND resource.label.gateway_name="{props.nat_gateway}"'
                    ),
                    comparison="COMPARISON_GT",
                    threshold_value=0,
                    duration="300s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="60s",
                            per_series_aligner="ALIGN_COUNT_TRUE",
                            cross_series_reducer="REDUCE_SUM",
                        )
                    ],
                ),
            )

    def _promql(
        self,
        id_: str,
        props: MonitoringProps,
        labels: dict[str, str],
        strategy: MonitoringAlertPolicyAlertStrategy,
        *,
        display_name: str,
        doc: str,
        query: str,
    ) -> MonitoringAlertPolicy:
        return MonitoringAlertPolicy(
            self,
            id_,
            project=props.project_id,
            display_name=display_name,
            combiner="OR",
            severity="ERROR",
            user_labels=labels,
            notification_channels=self.channel_ids or None,
            alert_strategy=strategy,
            documentation=MonitoringAlertPolicyDocumentation(content=doc, mime_type="text/markdown"),
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name=display_name,
                    condition_prometheus_query_language=MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage(
                        query=query, duration="0s", evaluation_interval="60s"
                    ),
                )
            ],
        )

    def _log_policy(
        self, id_: str, props: MonitoringProps, labels: dict[str, str], *, display_name: str, doc: str, log_filter: str
    ) -> MonitoringAlertPolicy:
        return MonitoringAlertPolicy(
            self,
            id_,
            project=props.project_id,
            display_name=display_name,
            combiner="OR",
            severity="ERROR",
            user_labels=labels,
            notification_channels=self.channel_ids or None,
            # log-match policies must rate-limit their notifications
            alert_strategy=MonitoringAlertPolicyAlertStrategy(
                auto_close="1800s",
                notification_rate_limit=MonitoringAlertPolicyAlertStrategyNotificationRateLimit(period="3600s"),
            ),
            documentation=MonitoringAlertPolicyDocumentation(content=doc, mime_type="text/markdown"),
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name=display_name,
                    condition_matched_log=MonitoringAlertPolicyConditionsConditionMatchedLog(filter=log_filter),
                )
            ],
        )

    def _policy(
        self,
        id_: str,
        props: MonitoringProps,
        labels: dict[str, str],
        strategy: MonitoringAlertPolicyAlertStrategy,
        *,
        display_name: str,
        doc: str,
        condition: MonitoringAlertPolicyConditionsConditionThreshold,
    ) -> MonitoringAlertPolicy:
        return MonitoringAlertPolicy(
            self,
            id_,
            project=props.project_id,
            display_name=display_name,
            combiner="OR",
            severity="ERROR",
            user_labels=labels,
            notification_channels=self.channel_ids or None,
            alert_strategy=strategy,
            documentation=MonitoringAlertPolicyDocumentation(content=doc, mime_type="text/markdown"),
            conditions=[MonitoringAlertPolicyConditions(display_name=display_name, condition_threshold=condition)],
        )
