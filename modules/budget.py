"""Budget: a monthly budget on one project's spend, alerting at thresholds through channels."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktn_provider_google.billing_budget import (
    BillingBudget,
    BillingBudgetAllUpdatesRule,
    BillingBudgetAmount,
    BillingBudgetAmountSpecifiedAmount,
    BillingBudgetBudgetFilter,
    BillingBudgetThresholdRules,
)
from constructs import Construct

from modules.base import PropsError

_BILLING = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")


@dataclass(frozen=True, kw_only=True)
class BudgetProps:
    billing_account: str
    display_name: str
    project_number: str
    """Number (not id) of the project whose spend counts (``Project.number``)."""
    amount: int
    currency: str | None = None
    """None = the billing account's currency."""
    thresholds: tuple[float, ...] = (0.5, 0.9, 1.0)
    forecast_thresholds: tuple[float, ...] = (1.0,)
    """Shares of the amount the month's *forecast* spend may reach before an alert (before it is spent)."""
    """Shares of ``amount`` (actual spend) that trigger an alert."""
    notification_channels: tuple[str, ...] = ()
    """Monitoring channel ids; billing admins are e-mailed as well."""


class Budget(Construct):
    def __init__(self, scope: Construct, id_: str, props: BudgetProps) -> None:
        super().__init__(scope, id_)
        where = f"budget {props.display_name!r}"
        if not _BILLING.match(props.billing_account):
            raise PropsError(f"{where}: billing account {props.billing_account!r}; use the form 012345-6789AB-CDEF01")
        if props.amount < 1:
            raise PropsError(f"{where}: amount {props.amount} must be at least 1")
        if not props.thresholds or any(not 0 < t <= 2 for t in (*props.thresholds, *props.forecast_thresholds)):
            raise PropsError(f"{where}: thresholds {list(props.thresholds)} must be shares in (0, 2]")
        if len(props.display_name) > 60:
            raise PropsError(f"{where}: display_name is longer than 60 characters; shorten it")
        self.budget = BillingBudget(
            self,
            "budget",
            billing_account=props.billing_account,
            display_name=props.display_name,
            budget_filter=BillingBudgetBudgetFilter(
                projects=[f"projects/{props.project_number}"],
                calendar_period="MONTH",
                credit_types_treatment="INCLUDE_ALL_CREDITS",
            ),
            amount=BillingBudgetAmount(
                specified_amount=BillingBudgetAmountSpecifiedAmount(
                    units=str(props.amount), currency_code=props.currency
                )
            ),
            threshold_rules=[
                *(
                    BillingBudgetThresholdRules(threshold_percent=t, spend_basis="CURRENT_SPEND")
                    for t in sorted(set(props.thresholds))
                ),
                # warned while there is still time to act: the month's forecast crosses these shares
                *(
                    BillingBudgetThresholdRules(threshold_percent=t, spend_basis="FORECASTED_SPEND")
                    for t in sorted(set(props.forecast_thresholds))
                ),
            ],
            all_updates_rule=BillingBudgetAllUpdatesRule(
                monitoring_notification_channels=list(props.notification_channels) or None,
                disable_default_iam_recipients=False,
            ),
        )
