"""Network: VPC + subnet + reserved static egress IP + Cloud Router + Cloud NAT on that IP only,
and private services access so Cloud SQL gets a private IP.

Cloud Run reaches the VPC by Direct VPC egress with ``ALL_TRAFFIC``, so every outbound
connection (e.g. to a client's database) leaves through this NAT from ``egress_ip``: the
one address a client whitelists.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cdktn_provider_google.compute_address import ComputeAddress
from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallDeny, ComputeFirewallLogConfig
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_network_attachment import ComputeNetworkAttachment
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import ComputeRouterNat, ComputeRouterNatLogConfig
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
from cdktn_provider_google.service_networking_connection import ServiceNetworkingConnection
from constructs import Construct

from modules.base import PROTECTED, PropsError, require_labels, require_name, require_project, require_region


@dataclass(frozen=True, kw_only=True)
class NetworkProps:
    project_id: str
    region: str
    name: str
    labels: dict[str, str]
    subnet_cidr: str = "10.10.0.0/24"
    """Primary range of the one regional subnet Cloud Run instances take their addresses from."""
    private_services_prefix: int = 20
    """Size of the range reserved for Google-managed services (Cloud SQL private IP)."""
    nat_logging: str = "ERRORS_ONLY"
    """NAT log filter: ERRORS_ONLY, TRANSLATIONS_ONLY or ALL."""
    attachment_cidr: str | None = "10.10.1.0/28"
    """Subnet of a network attachment Vertex AI jobs join with a Private Service Connect interface (so a
    training job reaches internal services such as MLflow); None = no attachment."""


class Network(Construct):
    def __init__(self, scope: Construct, id_: str, props: NetworkProps) -> None:
        super().__init__(scope, id_)
        where = f"network {props.name!r}"
        require_project(props.project_id, where)
        require_region(props.region, where)
        require_name(props.name, where)
        labels = require_labels(props.labels, where)
        try:
            subnet = ipaddress.ip_network(props.subnet_cidr)
        except ValueError:
            raise PropsError(
                f"{where}: subnet_cidr {props.subnet_cidr!r} is not a CIDR; use e.g. 10.10.0.0/24"
            ) from None
        if not subnet.is_private or subnet.prefixlen > 26:
            raise PropsError(f"{where}: subnet_cidr {props.subnet_cidr!r} must be private and /26 or larger")
        if not 16 <= props.private_services_prefix <= 24:
            raise PropsError(f"{where}: private_services_prefix {props.private_services_prefix} must be 16..24")
        if props.nat_logging not in {"ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"}:
            raise PropsError(f"{where}: nat_logging {props.nat_logging!r}; use ERRORS_ONLY, TRANSLATIONS_ONLY or ALL")

        self.vpc = ComputeNetwork(
            self,
            "vpc",
            project=props.project_id,
            name=props.name,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
        )
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            project=props.project_id,
            region=props.region,
            name=f"{props.name}-{props.region}",
            network=self.vpc.id,
            ip_cidr_range=str(subnet),
            private_ip_google_access=True,
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
        )
        # Nothing listens inside the VPC (Cloud Run ingress does not pass through it): deny all ingress, logged.
        self.deny_ingress = ComputeFirewall(
            self,
            "deny_all_ingress",
            project=props.project_id,
            name=f"{props.name}-deny-all-ingress",
            network=self.vpc.id,
            direction="INGRESS",
            priority=65534,
            source_ranges=["0.0.0.0/0"],
            deny=[ComputeFirewallDeny(protocol="all")],
            log_config=ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
        )
        self.egress_address = ComputeAddress(
            self,
            "egress_ip",
            project=props.project_id,
            region=props.region,
            name=f"{props.name}-egress",
            address_type="EXTERNAL",
            network_tier="PREMIUM",
            description="The one address every outbound connection leaves from (clients whitelist it).",
            labels=labels,
            # Clients allow-list this address in their firewalls: replacing it would cut every ETL off.
            lifecycle=PROTECTED,
        )
        self.router = ComputeRouter(
            self,
            "router",
            project=props.project_id,
            region=props.region,
            name=f"{props.name}-router",
            network=self.vpc.id,
        )
        self.nat = ComputeRouterNat(
            self,
            "nat",
            project=props.project_id,
            region=props.region,
            name=f"{props.name}-nat",
            router=self.router.name,
            nat_ip_allocate_option="MANUAL_ONLY",
            nat_ips=[self.egress_address.self_link],
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=ComputeRouterNatLogConfig(enable=True, filter=props.nat_logging),
        )
        self.private_services_range = ComputeGlobalAddress(
            self,
            "private_services_range",
            project=props.project_id,
            name=f"{props.name}-google-services",
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=props.private_services_prefix,
            network=self.vpc.id,
        )
        self.private_services = ServiceNetworkingConnection(
            self,
            "private_services",
            network=self.vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.private_services_range.name],
        )
        self.egress_ip = self.egress_address.address
        self.attachment: ComputeNetworkAttachment | None = None
        if props.attachment_cidr:
            attachment_subnet = ComputeSubnetwork(
                self,
                "attachment_subnet",
                project=props.project_id,
                region=props.region,
                name=f"{props.name}-{props.region}-psc",
                network=self.vpc.id,
                ip_cidr_range=props.attachment_cidr,
                private_ip_google_access=True,
                log_config=ComputeSubnetworkLogConfig(
                    aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
                ),
            )
            self.attachment = ComputeNetworkAttachment(
                self,
                "attachment",
                project=props.project_id,
                region=props.region,
                name=f"{props.name}-vertex",
                description="Vertex AI training jobs join the VPC here (Private Service Connect interface).",
                connection_preference="ACCEPT_AUTOMATIC",
                subnetworks=[attachment_subnet.self_link],
            )
