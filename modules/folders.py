"""Folders: the organisation's top-level folders, each with its own IAM."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cdktn_provider_google.folder import Folder
from cdktn_provider_google.folder_iam_member import FolderIamMember
from constructs import Construct

from modules.base import PROTECTED, PropsError, bind_members, key, require_iam

_PARENT = re.compile(r"^(organizations|folders)/\d+$")


@dataclass(frozen=True, kw_only=True)
class FolderSpec:
    iam: dict[str, list[str]] = field(default_factory=dict)
    """``role -> members`` on the folder (inherited by its projects)."""


@dataclass(frozen=True, kw_only=True)
class FoldersProps:
    parent: str
    """``organizations/NUMBER`` or ``folders/NUMBER``."""
    folders: dict[str, FolderSpec]
    """Keyed by display name (``Clients``); renaming one replaces it."""


class Folders(Construct):
    def __init__(self, scope: Construct, id_: str, props: FoldersProps) -> None:
        super().__init__(scope, id_)
        if not _PARENT.match(props.parent):
            raise PropsError(f"folders: parent {props.parent!r} is invalid; use organizations/NUMBER")
        if not props.folders:
            raise PropsError("folders: folders is empty; name at least one")
        self.folders: dict[str, Folder] = {}
        for name in sorted(props.folders):
            if not re.match(r"^[A-Za-z][\w -]{2,29}$", name):
                raise PropsError(f"folders: name {name!r} must be 3-30 letters, digits, spaces, - or _")
            iam = require_iam(props.folders[name].iam, f"folder {name!r}")
            folder = Folder(
                self,
                key(name),
                display_name=name,
                parent=props.parent,
                deletion_protection=True,
                lifecycle=PROTECTED,
            )
            self.folders[name] = folder
            bind_members(self, FolderIamMember, iam, id_prefix=(name,), folder=folder.name)
