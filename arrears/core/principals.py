"""Who is asking: the principal every selector scopes by (R46)."""

from dataclasses import dataclass
from typing import Protocol

from arrears.core.actors import Actor


class TreeNode(Protocol):
    """What a principal needs of a reseller (arrears.tenants.models.Reseller, which core must not import): its
    materialized path in the reseller tree."""

    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class Principal:
    """An API token or a signed-in manager: reaches its home reseller and that reseller's descendants."""

    actor: Actor
    home_reseller: TreeNode  # an arrears.tenants.models.Reseller
    scopes: frozenset[str]
    token_id: int | None = None

    def reaches(self, reseller: TreeNode) -> bool:
        return reseller.path.startswith(self.home_reseller.path)
