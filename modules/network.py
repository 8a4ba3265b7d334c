"""Network: VPC + subnet + reserved static egress IP + Cloud Router + Cloud NAT on that IP only,
and private services access so Cloud SQL gets a private IP.

Cloud Run reaches the VPC by Direct VPC egress with ``ALL_TRAFFIC``, so every outbound
connection (e.g. to a client's database) leaves through this NAT from ``egress_ip``: the
one address a client whitelists.

Optionally (``google_apis_ip``) the path by which Vertex AI jobs reach internal-ingress Cloud Run
services (MLflow): a Private Service Connect endpoint for Google APIs in the VPC, a private
``run.app.`` zone resolving every ``*.run.app`` name to it, and ``roles/dns.peer`` for the Vertex AI
service agent, so a job that joins through the network attachment and asks Vertex AI to peer
``run.app.`` with this network (``vertex_env``) sends its MLflow requests into the VPC.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cdktn_provider_google.compute_address import ComputeAddress
from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallDeny, ComputeFirewallLogConfig
from cdktn_provider_google.compute_global_address import ComputeGlobalAddress
from cdktn_provider_google.compute_global_forwarding_rule import ComputeGlobalForwardingRule
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_network_attachment import ComputeNetworkAttachment
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import ComputeRouterNat, ComputeRouterNatLogConfig
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
from cdktn_provider_google.dns_managed_zone import (
    DnsManagedZone,
    DnsManagedZonePrivateVisibilityConfig,
    DnsManagedZonePrivateVisibilityConfigNetworks,
)
from cdktn_provider_google.dns_record_set import DnsRecordSet
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_networking_connection import ServiceNetworkingConnection
from constructs import Construct

from modules.base import PROTECTED, PropsError, require_labels, require_name, require_project, require_region

RUN_APP_DOMAIN = "run.app."
"""The DNS domain of Cloud Run's service URLs: the private zone's name, and the domain a Vertex AI job
peers with the VPC (``B2BREC_VERTEX_DNS_DOMAIN``)."""
GOOGLE_APIS_BUNDLE = "all-apis"
"""Target of the Private Service Connect endpoint: every Google API, run.app included (``vpc-sc`` would
restrict it to services VPC Service Controls supports)."""
_ENDPOINT_NAME = re.compile(r"^[a-z][a-z0-9]{0,19}$")


def vertex_ai_service_agent(project_number: str) -> str:
    """The Vertex AI service agent of a project: it runs CustomJobs and peers their DNS with the VPC."""
    return f"serviceAccount:service-{project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"


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
    google_apis_ip: str | None = None
    """Internal address of a Private Service Connect endpoint for Google APIs (``all-apis``) and of the private
    ``run.app.`` zone's records, outside every subnet of the VPC; None = neither. Vertex AI jobs joined through the
    attachment reach internal-ingress Cloud Run services only this way (Google's PSC-I egress docs)."""
    vertex_project_number: str | None = None
    """Number of the project whose Vertex AI service agent peers ``run.app.`` with this network: it gets
    ``roles/dns.peer`` on ``project_id`` (Vertex AI asks for it before it creates the peering zone)."""


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
        endpoint_ip = self._endpoint_ip(props, subnet, where)

        self.network_name = props.name
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
        self.google_apis_address: ComputeGlobalAddress | None = None
        self.run_app_zone: DnsManagedZone | None = None
        if endpoint_ip is not None:
            self._run_app_through_google_apis(props, endpoint_ip, labels)

    @staticmethod
    def _endpoint_ip(
        props: NetworkProps, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, where: str
    ) -> str | None:
        if props.google_apis_ip is None:
            if props.vertex_project_number:
                raise PropsError(f"{where}: vertex_project_number needs google_apis_ip (the endpoint it peers DNS to)")
            return None
        if not props.attachment_cidr:
            raise PropsError(
                f"{where}: google_apis_ip serves Vertex AI jobs joined through the attachment; set attachment_cidr"
            )
        try:
            address = ipaddress.ip_address(props.google_apis_ip)
        except ValueError:
            raise PropsError(
                f"{where}: google_apis_ip {props.google_apis_ip!r} is not an address; use e.g. 10.10.255.2"
            ) from None
        taken = [subnet, ipaddress.ip_network(props.attachment_cidr)]
        if not address.is_private or any(address in net for net in taken):
            raise PropsError(
                f"{where}: google_apis_ip {props.google_apis_ip} must be private and outside "
                f"{', '.join(map(str, taken))} (a PSC endpoint takes an address no subnet holds)"
            )
        return str(address)

    def _run_app_through_google_apis(self, props: NetworkProps, endpoint_ip: str, labels: dict[str, str]) -> None:
        endpoint_name = f"{props.name.replace('-', '')}apis"
        if not _ENDPOINT_NAME.match(endpoint_name):
            raise PropsError(
                f"network {props.name!r}: endpoint name {endpoint_name!r} must be 1-20 lowercase letters/digits"
            )
        self.google_apis_address = ComputeGlobalAddress(
            self,
            "google_apis_address",
            project=props.project_id,
            name=f"{props.name}-google-apis",
            purpose="PRIVATE_SERVICE_CONNECT",
            address_type="INTERNAL",
            address=endpoint_ip,
            network=self.vpc.id,
        )
        # Reserved first, so the automatically allocated private services range never takes its address.
        reserved = self.google_apis_address
        self.private_services_range.depends_on = [f"{reserved.terraform_resource_type}.{reserved.friendly_unique_id}"]
        self.google_apis_endpoint = ComputeGlobalForwardingRule(
            self,
            "google_apis_endpoint",
            project=props.project_id,
            name=endpoint_name,
            target=GOOGLE_APIS_BUNDLE,
            network=self.vpc.id,
            ip_address=self.google_apis_address.id,
            load_balancing_scheme="",  # a PSC endpoint for Google APIs has no load-balancing scheme
        )
        self.run_app_zone = DnsManagedZone(
            self,
            "run_app_zone",
            project=props.project_id,
            name=f"{props.name}-run-app",
            dns_name=RUN_APP_DOMAIN,
            description="run.app through the Private Service Connect endpoint (internal ingress; Vertex AI peers it).",
            visibility="private",
            private_visibility_config=DnsManagedZonePrivateVisibilityConfig(
                networks=[DnsManagedZonePrivateVisibilityConfigNetworks(network_url=self.vpc.id)]
            ),
            labels=labels,
        )
        for record_id, record in (("run_app_apex", RUN_APP_DOMAIN), ("run_app_wildcard", f"*.{RUN_APP_DOMAIN}")):
            DnsRecordSet(
                self,
                record_id,
                project=props.project_id,
                managed_zone=self.run_app_zone.name,
                name=record,
                type="A",
                ttl=300,
                rrdatas=[self.google_apis_address.address],
            )
        if props.vertex_project_number:
            ProjectIamMember(
                self,
                "vertex_dns_peer",
                project=props.project_id,
                role="roles/dns.peer",
                member=vertex_ai_service_agent(props.vertex_project_number),
            )

    def vertex_env(self) -> dict[str, str]:
        """What the process that submits Vertex AI jobs reads (``B2BREC_VERTEX_*`` of b2brec.settings): the
        attachment jobs join through and, with the private run.app zone, the DNS peering they ask for."""
        env: dict[str, str] = {}
        if self.attachment is not None:
            env["B2BREC_VERTEX_NETWORK_ATTACHMENT"] = self.attachment.id
        if self.run_app_zone is not None:
            env["B2BREC_VERTEX_DNS_DOMAIN"] = RUN_APP_DOMAIN
            env["B2BREC_VERTEX_DNS_NETWORK"] = self.network_name
        return env
