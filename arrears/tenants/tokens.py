"""API tokens: the credential of an ERP integration acting as a manager. The only writers of their rows.

The secret is shown once, when the token is created; the database keeps its sha256 only.
"""

import contextlib
import hashlib
import secrets
import time
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from arrears.core import sql
from arrears.core.actors import Actor
from arrears.core.sqlite_backend.base import WriterBusy
from arrears.events.services import record_event
from arrears.tenants.errors import TokenAlreadyRevoked, TokenFieldInvalid, TokenNotFound
from arrears.tenants.models import ApiToken, Manager, Reseller

# read: the GET routes; erp: approve, complete and revoke invoices; platform: create accounts and
# subscriptions, post usage charges.
SCOPES = ("read", "erp", "platform")
VIEWER_SCOPES = ("read",)
SECRET_PREFIX = "arr_"
SHOWN_PREFIX_LENGTH = 12
DEFAULT_NAME = "API token"
# A busy token would otherwise write its row on every request; a minute is precise enough for "last used".
LAST_USED_PRECISION = timedelta(seconds=60)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed_scopes(manager: Manager) -> tuple[str, ...]:
    """The scopes a token of ``manager`` may hold: a token never does more than its manager may."""
    return VIEWER_SCOPES if manager.role == Manager.Role.VIEWER else SCOPES


def _clean_name(name) -> str:
    if not isinstance(name, str):
        raise TokenFieldInvalid("name must be a string", pointer="/name")
    name = name.strip() or DEFAULT_NAME
    if len(name) > 200:
        raise TokenFieldInvalid("name must be at most 200 characters", pointer="/name")
    return name


def _clean_scopes(scopes, allowed: tuple[str, ...]) -> list[str]:
    if scopes is None:
        return list(allowed)
    if not isinstance(scopes, (list, tuple)) or not scopes or not all(isinstance(scope, str) for scope in scopes):
        raise TokenFieldInvalid(f"scopes must be a non-empty list of {', '.join(SCOPES)}", pointer="/scopes")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise TokenFieldInvalid(f"unknown scopes {', '.join(unknown)}; known: {', '.join(SCOPES)}", pointer="/scopes")
    beyond_role = sorted(set(scopes) - set(allowed))
    if beyond_role:
        raise TokenFieldInvalid(f"this manager's role allows only {', '.join(allowed)}", pointer="/scopes")
    return [scope for scope in SCOPES if scope in scopes]


def _payload(token: ApiToken, changes: dict) -> dict:
    """Event payload: what identifies the token to a person, never its secret or hash."""
    return {
        "name": token.name,
        "scopes": token.scopes,
        "manager_id": token.manager_id,
        "prefix": token.prefix,
        "changes": changes,
    }


def create_api_token(
    *, manager: Manager, name: str = "", scopes: list[str] | None = None, actor: Actor, now: datetime
) -> tuple[ApiToken, str]:
    """A new token of ``manager`` and its secret, which is returned here and nowhere else."""
    name = _clean_name(name)
    scopes = _clean_scopes(scopes, allowed_scopes(manager))
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        token = ApiToken.objects.create(
            manager=manager,
            name=name,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            secret_hash=hash_secret(secret),
            scopes=scopes,
            created_at=now,
        )
        record_event(
            "api_token.created",
            subject=token,
            reseller_id=manager.reseller_id,
            account_id=None,
            payload=_payload(token, {"name": [None, name], "scopes": [None, scopes]}),
            actor=actor,
            now=now,
        )
    return token, secret


def revoke_api_token(token: ApiToken, *, actor: Actor, now: datetime) -> ApiToken:
    """Stop ``token`` from authenticating; the row stays for the audit log."""
    with transaction.atomic(durable=True):
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        if not revoked:
            if not ApiToken.objects.filter(pk=token.pk).exists():
                raise TokenNotFound(f"token {token.pk} does not exist")
            raise TokenAlreadyRevoked(f"token {token.pk} was already revoked")
        record_event(
            "api_token.revoked",
            subject=token,
            reseller_id=token.manager.reseller_id,
            account_id=None,
            payload=_payload(token, {"revoked_at": [None, now.isoformat()]}),
            actor=actor,
            now=now,
        )
    token.refresh_from_db(fields=["revoked_at", "last_used_at"])
    return token


def revoke_tokens_beyond_role(manager: Manager, *, actor: Actor, now: datetime) -> list[int]:
    """Revoke ``manager``'s live tokens holding a scope their (new) role does not allow; returns their ids. Runs
    inside the caller's transaction (a role change), one event per token."""
    allowed = set(allowed_scopes(manager))
    beyond = [
        token
        for token in ApiToken.objects.filter(manager=manager, revoked_at__isnull=True).order_by("id")
        if set(token.scopes) - allowed
    ]
    revoked = []
    for token in beyond:
        if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            record_event(
                "api_token.revoked",
                subject=token,
                reseller_id=manager.reseller_id,
                account_id=None,
                payload=_payload(token, {"revoked_at": [None, now.isoformat()]}),
                actor=actor,
                now=now,
            )
            revoked.append(token.pk)
    return revoked


def tokens_of(reseller: Reseller):
    """The tokens of ``reseller``'s managers, with their owner."""
    return ApiToken.objects.filter(manager__reseller=reseller).select_related("manager__user")


def token_of(reseller: Reseller, token_id: int) -> ApiToken:
    """The token with that id if one of ``reseller``'s managers owns it; otherwise 404."""
    token = tokens_of(reseller).filter(pk=token_id).first()
    if token is None:
        raise TokenNotFound(f"no token {token_id} in this reseller")
    return token


def authenticate_token(secret: str | None, *, now: datetime) -> ApiToken | None:
    """The live token whose secret is ``secret``, with its manager, reseller and user; None if there is none.

    Runs on every API request: one query, plus a write of ``last_used_at`` at most once a minute per token.
    """
    if not secret or not secret.startswith(SECRET_PREFIX):
        return None
    token = _live_token(hash_secret(secret))
    if token is None:
        return None
    stale_before = now - LAST_USED_PRECISION
    if token.last_used_at is None or token.last_used_at < stale_before:
        # Conditional, so that concurrent requests of one token write the row once. Best effort: while the writer
        # is busy (a billing day), a read goes on without it, and a later request writes it.
        with contextlib.suppress(WriterBusy):
            if ApiToken.objects.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before), pk=token.pk
            ).update(last_used_at=now):
                token.last_used_at = now
    return token


_TOKENS, _MANAGERS, _USERS, _RESELLERS = (
    sql.RowLoader(model) for model in (ApiToken, Manager, get_user_model(), Reseller)
)


# Tokens loaded with their manager, user and reseller, by secret hash, per process. Building those four objects
# costs more than the rest of a small API request, so they are kept for a while; whether the token is still
# live (not revoked, its user active) is checked by the database on every request all the same.
_LOADED: dict[str, tuple[float, ApiToken]] = {}
LOADED_FOR_SECONDS = 30.0
MAX_LOADED = 10_000


def _live_token(secret_hash: str) -> ApiToken | None:
    loaded = _LOADED.get(secret_hash)
    if loaded is not None and time.monotonic() - loaded[0] < LOADED_FOR_SECONDS:
        token = loaded[1]
        if sql.fetch_all(
            f"SELECT 1 FROM {sql.table(ApiToken)} t JOIN {sql.table(Manager)} m ON m.id = t.manager_id"
            f" JOIN {sql.table(get_user_model())} u ON u.id = m.user_id"
            " WHERE t.id = %s AND t.secret_hash = %s AND t.revoked_at IS NULL AND u.is_active",
            [token.pk, secret_hash],
        ):
            return token
        _LOADED.pop(secret_hash, None)
        return None
    live = _load_live_token(secret_hash)
    if live is not None:
        if len(_LOADED) >= MAX_LOADED:
            _LOADED.clear()
        _LOADED[secret_hash] = (time.monotonic(), live)
    return live


def _load_live_token(secret_hash: str) -> ApiToken | None:
    rows = sql.fetch_all(
        f"SELECT {_TOKENS.columns('t')}, {_MANAGERS.columns('m')}, {_USERS.columns('u')}, {_RESELLERS.columns('r')}"
        f" FROM {sql.table(ApiToken)} t JOIN {sql.table(Manager)} m ON m.id = t.manager_id"
        f" JOIN {sql.table(get_user_model())} u ON u.id = m.user_id"
        f" JOIN {sql.table(Reseller)} r ON r.id = m.reseller_id"
        " WHERE t.secret_hash = %s AND t.revoked_at IS NULL AND u.is_active",
        [secret_hash],
    )
    if not rows:
        return None
    token, start = _TOKENS.load(rows[0])
    manager, start = _MANAGERS.load(rows[0], start)
    user, start = _USERS.load(rows[0], start)
    reseller, _ = _RESELLERS.load(rows[0], start)
    manager._state.fields_cache.update(user=user, reseller=reseller)
    token._state.fields_cache["manager"] = manager
    return token
