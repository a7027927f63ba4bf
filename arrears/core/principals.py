"""Who is asking: the principal every selector scopes by (R46)."""

from dataclasses import dataclass

from arrears.core.actors import Actor


@dataclass(frozen=True)
class Principal:
    """An API token or a signed-in manager: reaches its home reseller and that reseller's descendants."""

    actor: Actor
    home_reseller: object  # arrears.tenants.models.Reseller; kept loose to avoid an import cycle
    scopes: frozenset[str]
    token_id: int | None = None

    def reaches(self, reseller) -> bool:
        return reseller.path.startswith(self.home_reseller.path)
