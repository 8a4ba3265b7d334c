"""Monitoring: e-mail channels, uptime checks of public endpoints and their alert policies,
plus a 5xx-rate alert per Cloud Run service."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn import Fn
from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyConditions,
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
    error_rate_per_second: float = 1.0


class Monitoring(Construct):
    def __init__(self, scope: Construct, id_: str, props: MonitoringProps) -> None:
        super().__init__(scope, id_)
        require_project(props.project_id, "monitoring")
        labels = require_labels(props.labels, "monitoring")
        for name, email in props.emails.items():
            if not _EMAIL.match(email):
                raise PropsError(f"monitoring: email {name}={email!r} is not an email address")
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
            self._policy(
                key("errors_alert", service),
                props,
                labels,
                strategy,
                display_name=f"{service} 5xx responses",
                doc=f"Cloud Run service {service} answered more than {props.error_rate_per_second} 5xx/s for 5 min.",
                condition=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=(
                        'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" '
                        f'AND resource.label.service_name="{service}" AND metric.label.response_code_class="5xx"'
                    ),
                    comparison="COMPARISON_GT",
                    threshold_value=props.error_rate_per_second,
                    duration="300s",
                    aggregations=[
                        MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                            alignment_period="60s", per_series_aligner="ALIGN_RATE", cross_series_reducer="REDUCE_SUM"
                        )
                    ],
                ),
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
