"""The org stack: the three top-level folders and who may act in them."""

from __future__ import annotations

from cdktn import TerraformOutput
from constructs import Construct

from modules.folders import Folders, FolderSpec, FoldersProps
from stacks.base import PlatformStack
from stacks.platform import FOLDERS, PlatformConfig

# The deployer creates and runs client projects under Clients; no basic role anywhere.
DEPLOYER_ROLES_ON_CLIENTS: tuple[str, ...] = (
    "roles/resourcemanager.projectCreator",
    "roles/resourcemanager.projectIamAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/billing.projectManager",
)


class OrgStack(PlatformStack):
    def __init__(self, scope: Construct, id_: str, *, platform: PlatformConfig) -> None:
        super().__init__(scope, id_, platform=platform, project=platform.control_plane_project, region=platform.region)
        deployer = f"serviceAccount:{platform.terraform_sa}"
        operators = {"roles/resourcemanager.folderViewer": list(platform.operators)} if platform.operators else {}
        folders = {name: FolderSpec(iam=dict(operators)) for name in FOLDERS}
        folders["Clients"] = FolderSpec(iam={**operators, **{role: [deployer] for role in DEPLOYER_ROLES_ON_CLIENTS}})
        self.folders = Folders(self, "folders", FoldersProps(parent=platform.org, folders=folders))
        for name, folder in self.folders.folders.items():
            TerraformOutput(self, f"folder_{name.lower()}", value=folder.name)
