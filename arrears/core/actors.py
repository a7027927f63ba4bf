"""Who did something: recorded on every event (R45)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    kind: str  # system | manager | api_token | customer_user
    id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "billing engine") -> "Actor":
        return cls("system", None, label)

    @classmethod
    def manager(cls, manager) -> "Actor":
        return cls("manager", manager.pk, manager.user.email)

    @classmethod
    def customer_user(cls, customer_user) -> "Actor":
        return cls("customer_user", customer_user.pk, customer_user.user.email)

    @classmethod
    def api_token(cls, token_id: int, label: str) -> "Actor":
        return cls("api_token", token_id, label)


SYSTEM = Actor.system()
