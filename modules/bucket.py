"""Bucket: a GCS bucket that can never be public, versioned, with lifecycle tiers and its own IAM."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
    StorageBucketSoftDeletePolicy,
    StorageBucketVersioning,
)
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from constructs import Construct

from modules.base import (
    PROTECTED,
    PropsError,
    bind_members,
    require_iam,
    require_labels,
    require_project,
    require_region,
)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")


@dataclass(frozen=True, kw_only=True)
class TierRule:
    """Move objects to ``storage_class`` once they are ``age_days`` old (``noncurrent_only``: old versions only)."""

    storage_class: str
    age_days: int
    noncurrent_only: bool = False
    prefixes: tuple[str, ...] = ()
    """Only objects under these prefixes (e.g. ``models/``); empty = the whole bucket."""


DEFAULT_TIERS: dict[str, TierRule] = {
    "old-versions-nearline": TierRule(storage_class="NEARLINE", age_days=30, noncurrent_only=True),
    "old-versions-coldline": TierRule(storage_class="COLDLINE", age_days=90, noncurrent_only=True),
}


@dataclass(frozen=True, kw_only=True)
class BucketProps:
    project_id: str
    region: str
    """Buckets are regional: the data stays in the environment's region."""
    name: str
    labels: dict[str, str]
    iam: dict[str, list[str]] = field(default_factory=dict)
    """Bucket-level ``role -> members``; allUsers/allAuthenticatedUsers are refused."""
    tiers: dict[str, TierRule] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    """Lifecycle tiering keyed by rule name; by default old object versions go to Nearline, then Coldline."""
    noncurrent_versions_kept: int = 5
    """Older versions beyond this many newer ones are deleted."""
    soft_delete_days: int = 7
    """Deleted objects stay recoverable this long."""


class Bucket(Construct):
    def __init__(self, scope: Construct, id_: str, props: BucketProps) -> None:
        super().__init__(scope, id_)
        where = f"bucket {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        if not _BUCKET.match(props.name):
            raise PropsError(f"{where}: use 3-63 lowercase letters, digits and hyphens (naming.bucket_name)")
        labels = require_labels(props.labels, where)
        iam = require_iam(props.iam, where)
        if props.noncurrent_versions_kept < 1:
            raise PropsError(f"{where}: noncurrent_versions_kept {props.noncurrent_versions_kept} must be >= 1")
        if not 0 <= props.soft_delete_days <= 90:
            raise PropsError(f"{where}: soft_delete_days {props.soft_delete_days} must be 0..90")
        rules = []
        for rule_name in sorted(props.tiers):
            tier = props.tiers[rule_name]
            if tier.storage_class not in STORAGE_CLASSES or tier.age_days < 1:
                raise PropsError(
                    f"{where}: tier {rule_name!r} ({tier.storage_class}, {tier.age_days} days) is invalid; "
                    f"use one of {STORAGE_CLASSES} and age_days >= 1"
                )
            condition = StorageBucketLifecycleRuleCondition(
                days_since_noncurrent_time=tier.age_days if tier.noncurrent_only else None,
                age=None if tier.noncurrent_only else tier.age_days,
                with_state="ARCHIVED" if tier.noncurrent_only else "ANY",
                matches_prefix=list(tier.prefixes) or None,
            )
            action = StorageBucketLifecycleRuleAction(type="SetStorageClass", storage_class=tier.storage_class)
            rules.append(StorageBucketLifecycleRule(action=action, condition=condition))
        rules.append(
            StorageBucketLifecycleRule(
                action=StorageBucketLifecycleRuleAction(type="Delete"),
                condition=StorageBucketLifecycleRuleCondition(
                    num_newer_versions=props.noncurrent_versions_kept, with_state="ARCHIVED"
                ),
            )
        )
        self.bucket = StorageBucket(
            self,
            "bucket",
            project=props.project_id,
            name=props.name,
            location=props.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=StorageBucketVersioning(enabled=True),
            lifecycle_rule=rules,
            soft_delete_policy=StorageBucketSoftDeletePolicy(retention_duration_seconds=props.soft_delete_days * 86400),
            force_destroy=False,
            labels=labels,
            deletion_policy="PREVENT",
            lifecycle=PROTECTED,
        )
        self.name = props.name
        self.url = f"gs://{props.name}"
        bind_members(self, StorageBucketIamMember, iam, bucket=self.bucket.name)
