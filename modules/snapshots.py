"""Daily BigQuery table snapshots of a dataset (the seed's backups), each expiring after ``keep_days``.

A scheduled query (BigQuery Data Transfer Service) runs as ``service_account`` every day and creates
``{target}.{table}_{YYYYMMDD}`` as a snapshot (zero-copy, billed for changed data only) of every base
table of ``source``. Restoring is ``CREATE TABLE raw_data.x CLONE raw_data_snapshots.x_20261130``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktn_provider_google.bigquery_data_transfer_config import BigqueryDataTransferConfig
from constructs import Construct

from modules.base import PropsError, reference, require_project, require_region

_DATASET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")


@dataclass(frozen=True, kw_only=True)
class SnapshotsProps:
    project_id: str
    region: str
    source: str
    """Dataset whose base tables are snapshotted."""
    target: str
    """Dataset the snapshots go to (created by the stack; the service account may write only there)."""
    service_account: str
    """Email the scheduled query runs as: reads ``source``, writes ``target``, runs jobs."""
    keep_days: int = 30
    """Each snapshot expires this many days after it was taken."""
    schedule: str = "every day 04:00"
    """Data Transfer Service schedule (UTC); after the nightly ETL."""


def snapshot_script(project_id: str, source: str, target: str, keep_days: int) -> str:
    """The BigQuery script the transfer runs: one snapshot per base table of ``source``, dated today."""
    return (
        "DECLARE day STRING DEFAULT FORMAT_DATE('%Y%m%d', CURRENT_DATE());\n"
        f"FOR t IN (SELECT table_name FROM `{project_id}.{source}.INFORMATION_SCHEMA.TABLES` "
        "WHERE table_type = 'BASE TABLE') DO\n"
        "  EXECUTE IMMEDIATE FORMAT(\n"
        f"    'CREATE SNAPSHOT TABLE IF NOT EXISTS `{project_id}.{target}.%s_%s` CLONE `{project_id}.{source}.%s` '\n"
        f"    || 'OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {keep_days} DAY))',\n"
        "    t.table_name, day, t.table_name);\n"
        "END FOR;"
    )


class TableSnapshots(Construct):
    def __init__(self, scope: Construct, id_: str, props: SnapshotsProps) -> None:
        super().__init__(scope, id_)
        where = f"snapshots of {props.source!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        for dataset in (props.source, props.target):
            if not _DATASET.match(dataset):
                raise PropsError(f"{where}: dataset {dataset!r} is not a BigQuery dataset id")
        if not 1 <= props.keep_days <= 3650:
            raise PropsError(f"{where}: keep_days {props.keep_days} must be 1..3650")
        self.transfer = BigqueryDataTransferConfig(
            self,
            "transfer",
            project=props.project_id,
            location=props.region,
            display_name=f"daily snapshots of {props.source}",
            data_source_id="scheduled_query",
            schedule=props.schedule,
            service_account_name=reference(self, props.service_account),
            params={"query": snapshot_script(props.project_id, props.source, props.target, props.keep_days)},
        )
