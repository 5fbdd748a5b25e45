"""API tokens and dashboard users, kept in the warehouse as hashes only.

A token is 32 random bytes, so one SHA-256 of it is enough to store; passwords are chosen
by people, so they get scrypt with a salt. Plain values are shown once and never stored."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from revlens.errors import RevlensError
from revlens.model.warehouse import META_TABLE, Warehouse

TOKEN_PREFIX = "rlk_"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10


class Role(StrEnum):
    viewer = "viewer"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token or a user, with a role and how it was shown to us."""

    kind: str  # "token" or "user"
    name: str
    role: Role
    ident: str  # token id or user name: what a session re-checks on every request

    def may(self, role: Role) -> bool:
        return self.role is Role.admin or role is Role.viewer


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(wh: Warehouse, role: Role, name: str | None = None) -> tuple[str, str]:
    """A new token: (token id, the token itself). Only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(4)
    wh.con.execute(
        "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, NULL)",
        [token_id, name or f"{role.value}-{token_id}", role.value, _sha256(token), _now()],
    )
    return token_id, token


def list_tokens(wh: Warehouse) -> list[dict[str, Any]]:
    """Every token (never the token itself): id, name, role, created, revoked."""
    names = ("token_id", "name", "role", "created_at", "revoked_at")
    rows = wh.con.execute(
        f"SELECT {', '.join(names)} FROM api_tokens ORDER BY created_at, token_id"
    ).fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


def revoke_token(wh: Warehouse, id_or_name: str) -> int:
    """Revoke the tokens with this id or name; how many were still active."""
    found = wh.con.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE (token_id = ? OR name = ?) "
        "AND revoked_at IS NULL RETURNING token_id",
        [_now(), id_or_name, id_or_name],
    ).fetchall()
    if not found:
        known = wh.con.execute(
            "SELECT count(*) FROM api_tokens WHERE token_id = ? OR name = ?",
            [id_or_name, id_or_name],
        ).fetchone()
        if not known or not known[0]:
            raise RevlensError(
                "no token with this id or name",
                value=id_or_name,
                code="RL031",
                fix="see `revlens token list`",
            )
    return len(found)


def check_token(wh: Warehouse, token: str) -> Principal | None:
    """The principal of an active token, or None."""
    row = wh.con.execute(
        "SELECT token_id, name, role FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL",
        [_sha256(token)],
    ).fetchone()
    if row is None:
        return None
    return Principal("token", str(row[1]), Role(row[2]), str(row[0]))


def token_by_id(wh: Warehouse, token_id: str) -> Principal | None:
    """The principal of an active token id (a session made with a token re-checks this)."""
    row = wh.con.execute(
        "SELECT token_id, name, role FROM api_tokens WHERE token_id = ? AND revoked_at IS NULL",
        [token_id],
    ).fetchone()
    return None if row is None else Principal("token", str(row[1]), Role(row[2]), str(row[0]))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """scrypt$N$r$p$salt$hash, all that is needed to check it later."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _password_matches(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    again = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(again, base64.b64decode(digest))


def create_user(wh: Warehouse, name: str, password: str, role: Role) -> None:
    """A dashboard user (replacing the password and role of an existing one)."""
    if not name.strip():
        raise RevlensError("a user needs a name", code="RL032", fix="e.g. revlens user create ana")
    if len(password) < MIN_PASSWORD:
        raise RevlensError(
            f"the password is shorter than {MIN_PASSWORD} characters",
            code="RL033",
            fix=f"choose a password of at least {MIN_PASSWORD} characters",
        )
    wh.con.execute(
        "INSERT OR REPLACE INTO api_users VALUES (?, ?, ?, ?)",
        [name, role.value, hash_password(password), _now()],
    )


def list_users(wh: Warehouse) -> list[dict[str, Any]]:
    names = ("name", "role", "created_at")
    rows = wh.con.execute(f"SELECT {', '.join(names)} FROM api_users ORDER BY name").fetchall()
    return [dict(zip(names, r, strict=True)) for r in rows]


def delete_user(wh: Warehouse, name: str) -> None:
    gone = wh.con.execute("DELETE FROM api_users WHERE name = ? RETURNING name", [name]).fetchall()
    if not gone:
        raise RevlensError(
            "no user with this name", value=name, code="RL034", fix="see `revlens user list`"
        )


def check_user(wh: Warehouse, name: str, password: str) -> Principal | None:
    """The principal of a user whose password matches, or None."""
    row = wh.con.execute(
        "SELECT role, password_hash FROM api_users WHERE name = ?", [name]
    ).fetchone()
    if row is None:
        hash_password(password)  # the same work as a real check: no timing hint of existence
        return None
    if not _password_matches(password, str(row[1])):
        return None
    return Principal("user", name, Role(row[0]), name)


def user_by_name(wh: Warehouse, name: str) -> Principal | None:
    row = wh.con.execute("SELECT role FROM api_users WHERE name = ?", [name]).fetchone()
    return None if row is None else Principal("user", name, Role(row[0]), name)


def session_secret(wh: Warehouse) -> str:
    """The key that signs session cookies, made on first use and kept in the warehouse (so
    sessions survive a restart; delete it to end every session)."""
    row = wh.con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'session_secret'").fetchone()
    if row is not None:
        return str(row[0])
    secret = secrets.token_urlsafe(48)
    wh.con.execute(f"INSERT INTO {META_TABLE} VALUES ('session_secret', ?)", [secret])
    return secret
