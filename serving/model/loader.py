"""Where model versions come from: the client's models bucket (required path) or the MLflow
registry (a registered model version whose ``bundle_uri`` tag points into that bucket)."""

from __future__ import annotations

from dataclasses import dataclass

from b2brec.backends.storage import ObjectStore
from b2brec.bundle import BundleError, ServingBundle, list_versions, read_bundle, read_manifest
from b2brec.quality import may_promote


@dataclass(frozen=True)
class BundleSource:
    """Serving bundles in one models store (``open_project(name).storage("models")``)."""

    store: ObjectStore

    def versions(self) -> list[str]:
        return list_versions(self.store)

    def latest(self) -> str:
        """The newest version, passing over newer ones flagged as losing to their baselines while
        an older one is not (``b2brec.quality.may_promote``): an automatic pick never serves a
        model that a baseline beats when a better one exists. Deploy a version by id to override."""
        versions = self.versions()
        if not versions:
            raise BundleError(
                "no model version with a serving bundle in this client's models bucket; train a model first "
                "(b2brec train ...) or deploy a bundle there"
            )
        qualities = {v: read_manifest(self.store, v).extra.get("quality") for v in versions}
        chosen = versions[-1]
        for version in reversed(versions[:-1]):
            allowed, _ = may_promote(qualities[chosen], qualities[version])
            if allowed:
                break
            chosen = version
        return chosen

    def load(self, version: str) -> ServingBundle:
        return read_bundle(self.store, version)


def version_from_registry(tracking_uri: str, model_name: str, alias_or_version: str) -> str:
    """The model version id a registered MLflow model version serves, read from its
    ``bundle_uri`` tag (``.../{version}/serving``); load it with ``BundleSource.load``.

    ``alias_or_version`` is a registry version number ("3") or an alias ("champion")."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from b2brec.backends.identity import authenticate_mlflow

    authenticate_mlflow(tracking_uri)  # the client's MLflow is internal Cloud Run with IAM: it wants an ID token
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        if alias_or_version.isdigit():
            registered = client.get_model_version(model_name, alias_or_version)
        else:
            registered = client.get_model_version_by_alias(model_name, alias_or_version)
    except MlflowException as exc:
        kind = "version" if alias_or_version.isdigit() else "alias"
        raise BundleError(
            f"the MLflow registry has no {kind} {alias_or_version!r} of model {model_name!r} "
            f"({exc.error_code}); list versions in the MLflow UI or deploy a bundle version id instead"
        ) from None
    uri = registered.tags.get("bundle_uri")
    if not uri:
        raise BundleError(f"registered model {model_name} v{registered.version} has no bundle_uri tag")
    parts = uri.rstrip("/").split("/")
    if len(parts) < 2 or parts[-1] != "serving":
        raise BundleError(f"bundle_uri {uri!r} of {model_name} v{registered.version} does not end in /serving")
    return parts[-2]
