"""``b2brec template``: publish, release, retire and list template versions (what CI runs)."""

from __future__ import annotations

import typer
from rich.table import Table

from b2brec.errors import B2BRecError
from cli.common import console, load_settings, user_errors
from provisioning import errors as _errors  # noqa: F401  (registers template_error, raised here before any import)

app = typer.Typer(help="Template versions: tagged releases of the client stack and images.", no_args_is_help=True)


def _pairs(values: list[str], what: str, example: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key or not item:
            raise B2BRecError(f"{what} {value[:80]!r}: write {example}", code="template_error")
        found[key] = item
    return found


@app.command("release")
@user_errors
def release(
    version: str = typer.Argument(..., help="Semantic version, e.g. 1.4.0."),
    notes: str = typer.Option("", "--notes", help="Release notes."),
    image: list[str] = typer.Option([], "--image", help="NAME=DIGEST of an image (repeatable)."),
    setting: list[str] = typer.Option(
        [], "--setting", help="SERVICE:B2BREC_NAME=VALUE a service runs with (repeatable)."
    ),
    candidate: bool = typer.Option(False, "--candidate", help="Publish as a release candidate only."),
) -> None:
    """Publish a template version (released, unless --candidate); keeps the last 3 released."""
    from provisioning.templates import registry_for

    runtime: dict[str, dict[str, str]] = {}
    for service, env in (_split_setting(s) for s in setting):
        runtime.setdefault(service, {}).update(env)
    registry = registry_for(load_settings())
    images = _pairs(image, "--image", "NAME=sha256:<64 hex>")
    published = registry.add(version, notes=notes, images=images, runtime=runtime)
    if published.source is not None:
        commit = f" (commit {published.source.commit[:12]})" if published.source.commit else ""
        console.print(f"{version} is stacks {published.source.digest[:19]}…{commit}")
    if candidate:
        console.print(f"[green]published candidate[/green] {published.version}")
        return
    released, retired = registry.release(version)
    console.print(f"[green]released[/green] {released.version}")
    if retired:
        console.print(f"retired (only the last 3 released stay deployable): {', '.join(retired)}")


def _split_setting(value: str) -> tuple[str, dict[str, str]]:
    service, sep, rest = value.partition(":")
    if not sep:
        raise B2BRecError(f"--setting {value[:80]!r}: write SERVICE:B2BREC_NAME=VALUE", code="template_error")
    return service, _pairs([rest], "--setting", "SERVICE:B2BREC_NAME=VALUE")


@app.command("retire")
@user_errors
def retire(version: str = typer.Argument(...)) -> None:
    """Retire a version: it can no longer be applied to a client."""
    from provisioning.templates import registry_for

    registry_for(load_settings()).retire(version)
    console.print(f"retired {version}")


@app.command("list")
@user_errors
def list_() -> None:
    """List template versions, newest last."""
    from provisioning.templates import registry_for

    table = Table("version", "status", "released", "stacks", "images", "settings", "notes")
    for v in registry_for(load_settings()).list():
        settings = sum(len(env) for env in v.runtime.values())
        stacks = v.source.digest[7:19] if v.source else "unknown"
        table.add_row(
            v.version,
            v.status.value,
            (v.released_at or "")[:19],
            stacks,
            str(len(v.images)),
            str(settings),
            v.notes[:60],
        )
    console.print(table)
