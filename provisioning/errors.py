"""Error codes of the provisioners and the template registry (registered once, here)."""

from __future__ import annotations

from b2brec.errors import register

register("template_error", 422, "invalid template version", "correct the named field of the release")
register("template_not_found", 404, "unknown template version", "publish it with `b2brec template release VERSION`")
register("template_retired", 409, "template version retired", "apply one of the last three released versions")
register("provision_failed", 500, "provisioning failed", "see the provisioning log named in the message")
register(
    "provision_unhealthy",
    502,
    "a service is unhealthy after provisioning",
    "see the service's log; apply the previous template version to roll back",
)
register("port_in_use", 409, "port already in use", "free the port or give the client another one")
register(
    "local_only",
    422,
    "this applies to local client projects only",
    "drop the option on Google Cloud, or run with B2BREC_BACKEND=local",
)
