"""Every table of the control plane, imported in one place for Alembic and ``create_all``."""

from control_plane.alerts.models import Alert
from control_plane.audit.models import AuditEntry
from control_plane.auth.models import Operator, Role
from control_plane.clients.models import Client, ClientStatus, JobStatus, ProvisioningJob
from control_plane.extensions import Base
from control_plane.health.models import HealthSample
from control_plane.onboarding.models import OnboardingDraft
from control_plane.rollouts.models import Rollout, RolloutStatus, RolloutTarget, TargetStatus

metadata = Base.metadata

__all__ = [
    "Alert",
    "AuditEntry",
    "Client",
    "ClientStatus",
    "HealthSample",
    "JobStatus",
    "OnboardingDraft",
    "Operator",
    "ProvisioningJob",
    "Role",
    "Rollout",
    "RolloutStatus",
    "RolloutTarget",
    "TargetStatus",
    "metadata",
]
