"""A recording stand-in for the ``terraform`` executable, for the flows that need a plan: it appends
``cwd|argv`` of every call to a log and the Terraform-relevant environment to another, and behaves
like terraform on the synthesized stack it runs in: ``plan -out=FILE`` saves a plan in which every
resource of ``cdk.tf.json`` is created (or, given ``existing``, those types are updated), prints
terraform's ``Plan:`` line, ``show -json FILE`` prints it in terraform's JSON plan format,
``output -json`` prints the outputs. ``fail_on`` makes that subcommand fail like terraform does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUTS = {
    "project_id": {"value": "client-acme-foods-dev", "type": "string", "sensitive": False},
    "serving_url": {"value": "https://serving-acme-ew.a.run.app", "type": "string", "sensitive": False},
    "client_app_url": {"value": "https://client-app-acme-ew.a.run.app", "type": "string", "sensitive": False},
}

SCRIPT = r"""
import json, os, sys
from pathlib import Path

args = sys.argv[1:]
CONFIG = json.loads(Path(__file__).with_name("config.json").read_text())
with open(CONFIG["log"], "a") as log:
    log.write(f"{os.getcwd()}|{' '.join(args)}\n")
with open(CONFIG["env_log"], "a") as log:
    seen = {k: v for k, v in os.environ.items() if k.startswith(("TF_", "GOOGLE_"))}
    log.write(f"{os.getcwd()}|{json.dumps(seen, sort_keys=True)}\n")
if args and args[0] == CONFIG["fail_on"]:
    print("Error: googleapi: Error 403: The caller does not have permission, forbidden")
    sys.exit(1)


def plan_of(stack):
    changes = []
    for rtype, items in sorted(stack.get("resource", {}).items()):
        for name in sorted(items):
            action = ["update"] if rtype in CONFIG["existing"] else ["create"]
            changes.append({
                "address": f"{rtype}.{name}", "mode": "managed", "type": rtype, "name": name,
                "provider_name": "registry.terraform.io/hashicorp/google",
                "change": {"actions": action, "before": None, "after": items[name], "after_unknown": {}},
            })
    for rtype, items in sorted(stack.get("data", {}).items()):
        for name in sorted(items):
            changes.append({"address": f"data.{rtype}.{name}", "mode": "data", "type": rtype, "name": name,
                            "change": {"actions": ["read"]}})
    return {"format_version": "1.2", "terraform_version": "1.9.8", "planned_values": {"root_module": {}},
            "resource_changes": changes, "configuration": {"root_module": {}}, "timestamp": "2026-11-30T12:00:00Z",
            "applyable": True, "complete": True, "errored": False}


cmd = args[0] if args else ""
if cmd == "init":
    print("Terraform has been successfully initialized!")
elif cmd == "plan":
    out = next(a.split("=", 1)[1] for a in args if a.startswith("-out="))
    plan = plan_of(json.loads(Path("cdk.tf.json").read_text()))
    Path(out).write_text(json.dumps(plan))
    acts = [c["change"]["actions"] for c in plan["resource_changes"] if c["mode"] == "managed"]
    add, change = sum(a == ["create"] for a in acts), sum(a == ["update"] for a in acts)
    print(f"Plan: {add} to add, {change} to change, 0 to destroy.")
elif cmd == "show":
    print(Path(args[-1]).read_text())
elif cmd == "apply":
    print("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
elif cmd == "output":
    print(json.dumps(CONFIG["outputs"]))
"""


def fake_terraform(
    folder: Path, *, fail_on: str = "", existing: tuple[str, ...] = (), outputs: dict[str, Any] | None = None
) -> Path:
    """Write the fake into ``folder``; calls go to ``folder/argv.log`` and ``folder/env.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "log": str(folder / "argv.log"),
        "env_log": str(folder / "env.log"),
        "fail_on": fail_on,
        "existing": list(existing),
        "outputs": outputs or OUTPUTS,
    }
    (folder / "config.json").write_text(json.dumps(config))
    script = folder / "terraform"
    script.write_text(f"#!{sys.executable}\n{SCRIPT}")
    script.chmod(0o755)
    return script


def calls(folder: Path) -> list[str]:
    log = folder / "argv.log"
    return log.read_text().splitlines() if log.exists() else []


def envs(folder: Path) -> list[dict[str, str]]:
    log = folder / "env.log"
    return [json.loads(line.split("|", 1)[1]) for line in log.read_text().splitlines()] if log.exists() else []
