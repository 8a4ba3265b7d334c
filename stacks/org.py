"""The org stack: the Development folder, and who may see each top-level folder.

Applied once by an organisation admin with their own credentials: the deployer holds no organisation role
(it cannot create folders or change their IAM). ``scripts/bootstrap-org.sh`` creates Management (the control
plane project lives there from the start) and Clients and grants the deployer its folder roles; this stack
looks both up and adds the operators' viewer role."""

from __future__ import annotations

from cdktn import TerraformOutput
from cdktn_provider_google.data_google_active_folder import DataGoogleActiveFolder
from cdktn_provider_google.folder_iam_member import FolderIamMember
from constructs import Construct

from modules.base import bind_members, key
from modules.folders import Folders, FolderSpec, FoldersProps
from stacks.base import PlatformStack
from stacks.platform import BOOTSTRAPPED_FOLDERS, FOLDERS, PlatformConfig


class OrgStack(PlatformStack):
    def __init__(self, scope: Construct, id_: str, *, platform: PlatformConfig) -> None:
        super().__init__(scope, id_, platform=platform, project=platform.control_plane_project, region=platform.region)
        operators = {"roles/resourcemanager.folderViewer": list(platform.operators)} if platform.operators else {}
        created = {name: FolderSpec(iam=dict(operators)) for name in FOLDERS if name not in BOOTSTRAPPED_FOLDERS}
        self.folders = Folders(self, "folders", FoldersProps(parent=platform.org, folders=created))
        names = {name: folder.name for name, folder in self.folders.folders.items()}
        for name in BOOTSTRAPPED_FOLDERS:
            found = DataGoogleActiveFolder(self, key("bootstrapped", name), display_name=name, parent=platform.org)
            bind_members(self, FolderIamMember, operators, id_prefix=(name,), folder=found.name)
            names[name] = found.name
        for name in sorted(names):
            TerraformOutput(self, f"folder_{name.lower()}", value=names[name])
