"""The price sheet metering uses: machine hours by type, and each client's fixed daily
services. Figures are list prices in EUR rounded from Google's public price pages (2026);
``PriceSheet`` can be loaded from YAML to follow a real contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

MACHINE_EUR_PER_HOUR: dict[str, float] = {
    "local": 0.20,
    "e2-standard-4": 0.14,
    "n1-standard-4": 0.18,
    "n1-standard-8": 0.36,
    "n1-highmem-8": 0.45,
    "n2-standard-8": 0.37,
}
ACCELERATOR_EUR_PER_HOUR: dict[str, float] = {"NVIDIA_TESLA_T4": 0.33, "NVIDIA_L4": 0.66, "NVIDIA_TESLA_V100": 2.30}
DAILY_SERVICES_EUR: dict[tuple[str, str], float] = {
    ("Cloud Run", "Serving: CPU and memory (min instances)"): 2.10,
    ("Cloud Run", "Client app: CPU and memory"): 0.85,
    ("Cloud SQL", "PostgreSQL db-custom-1-3840"): 1.60,
    ("Cloud Storage", "Standard storage, regional"): 0.12,
    ("BigQuery", "Analysis and active storage"): 0.35,
    ("Memorystore for Redis", "Basic tier, 1 GB"): 1.15,
}


@dataclass(frozen=True)
class PriceSheet:
    currency: str = "EUR"
    machines: dict[str, float] = field(default_factory=lambda: dict(MACHINE_EUR_PER_HOUR))
    accelerators: dict[str, float] = field(default_factory=lambda: dict(ACCELERATOR_EUR_PER_HOUR))
    daily: dict[tuple[str, str], float] = field(default_factory=lambda: dict(DAILY_SERVICES_EUR))

    def machine_hour(self, machine_type: str | None) -> float:
        return self.machines.get(machine_type or "local", self.machines["local"])

    def accelerator_hour(self, accelerator: str | None) -> float:
        return self.accelerators.get(accelerator or "", 0.0)

    @classmethod
    def from_yaml(cls, path: Path) -> PriceSheet:
        raw = yaml.safe_load(path.read_text()) or {}
        daily = {(d["service"], d["sku"]): float(d["eur_per_day"]) for d in raw.get("daily", [])}
        return cls(
            currency=raw.get("currency", "EUR"),
            machines={**MACHINE_EUR_PER_HOUR, **{k: float(v) for k, v in (raw.get("machines") or {}).items()}},
            accelerators={**ACCELERATOR_EUR_PER_HOUR, **(raw.get("accelerators") or {})},
            daily=daily or dict(DAILY_SERVICES_EUR),
        )
