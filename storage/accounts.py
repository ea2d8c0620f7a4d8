"""Accounts and failed sign-ins (``schemas/accounts.py``; migration ``0022_accounts``)."""

from __future__ import annotations

import datetime as dt

from schemas.accounts import Account
from storage.sql_desk import SqlDesk

_COLUMNS = "sub, role, name, tenant, device, password_hash, disabled, created_at"


class AccountStore:
    """Add, read and disable accounts; count failed sign-ins."""

    def __init__(self, desk: SqlDesk) -> None:
        self.desk = desk

    def put(self, account: Account) -> None:
        """Create or replace an account."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(desk.q("DELETE FROM accounts WHERE sub = ?"), (account.sub,))
            conn.execute(
                desk.q(f"INSERT INTO accounts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                (
                    account.sub,
                    account.role,
                    account.name,
                    account.tenant,
                    account.device,
                    account.password_hash,
                    account.disabled,
                    desk.time_in(account.created_at),
                ),
            )

    def get(self, sub: str) -> Account | None:
        """One account."""
        desk = self.desk
        rows = desk.rows(f"SELECT {_COLUMNS} FROM accounts WHERE sub = ?", (sub,))
        if not rows:
            return None
        r = rows[0]
        return Account(
            sub=r[0],
            role=r[1],
            name=r[2],
            tenant=r[3],
            device=r[4],
            password_hash=r[5],
            disabled=bool(r[6]),
            created_at=desk.time_out(r[7]),
        )

    def disable(self, sub: str) -> bool:
        """Stop an account signing in; False if there is none."""
        desk = self.desk
        with desk.tx() as conn:
            done = conn.execute(
                desk.q("UPDATE accounts SET disabled = ? WHERE sub = ?"), (True, sub)
            )
            return bool(done.rowcount)

    def failed(self, sub: str, at: dt.datetime) -> None:
        """Record a failed sign-in."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(
                desk.q("INSERT INTO login_failures (sub, at) VALUES (?, ?)"),
                (sub, desk.time_in(at)),
            )

    def failures_since(self, sub: str, since: dt.datetime) -> int:
        """Failed sign-ins of ``sub`` at or after ``since``."""
        rows = self.desk.rows(
            "SELECT count(*) FROM login_failures WHERE sub = ? AND at >= ?",
            (sub, self.desk.time_in(since)),
        )
        return int(rows[0][0])

    def clear_failures(self, sub: str) -> None:
        """Forget ``sub``'s failed sign-ins (after a good one)."""
        desk = self.desk
        with desk.tx() as conn:
            conn.execute(desk.q("DELETE FROM login_failures WHERE sub = ?"), (sub,))
