"""Synthesis cost: wall time and Terraform JSON size for 1 and for N client environments.

    .venv/bin/python benchmarks/synth.py [--clients 50]

Client specs are generated in memory from environments/template-dev.yaml (distinct names,
alternating EU and US regions), synthesized with the same code as `b2brec synth` (one App per
run, canonical JSON written to a temp folder). The one-off jsii/Node start-up is reported apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from b2brec.spec import ClientSpec, parse_spec
from stacks.platform import load_platform
from stacks.synth import Target, quiet_jsii, synthesize

REPO = Path(__file__).resolve().parents[1]
REGIONS = ("europe-west1", "us-central1", "europe-west3", "us-east1")
console = Console()


def make_specs(count: int) -> list[ClientSpec]:
    base = yaml.safe_load((REPO / "environments" / "template-dev.yaml").read_text())
    return [
        parse_spec(
            {
                **base,
                "client_id": f"bench-{i:03d}",
                "name": f"Bench Client {i:03d}",
                "region": REGIONS[i % len(REGIONS)],
            },
            origin=f"bench-{i:03d}",
        )
        for i in range(count)
    ]


def measure(specs: list[ClientSpec]) -> tuple[float, int]:
    platform = load_platform()
    targets = [Target(f"bench-{i:03d}-dev", spec) for i, spec in enumerate(specs)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = synthesize(targets, platform, Path(tmp))
        elapsed = time.perf_counter() - start
    return elapsed, sum(r.size for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    quiet_jsii()
    start = time.perf_counter()
    import cdktn_provider_google.provider  # noqa: F401  (starts Node and loads the provider's assembly)

    startup = time.perf_counter() - start
    table = Table("client environments", "synth time (s)", "per env (s)", "JSON total (MB)", "JSON per env (KB)")
    for count in (1, args.clients):
        elapsed, size = measure(make_specs(count))
        table.add_row(
            str(count), f"{elapsed:.2f}", f"{elapsed / count:.2f}", f"{size / 1e6:.2f}", f"{size / count / 1e3:.1f}"
        )
    console.print(f"jsii/Node start-up and provider load (once per process): {startup:.1f} s")
    console.print(table)


if __name__ == "__main__":
    main()
