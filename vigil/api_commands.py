"""The API's commands: ``vigil api``, ``api token``, ``users``, ``records``, ``audit``.

``vigil api`` serves the API; ``vigil api token`` issues a bearer token; ``vigil users``
makes the accounts that sign in; ``vigil records rewrap`` seals and re-wraps the records
under the current key; ``vigil audit verify`` checks the audit chain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from vigil.settings import Settings

if TYPE_CHECKING:
    from storage.sql_desk import SqlDesk

log = logging.getLogger("vigil")


@contextlib.contextmanager
def migrated_desk(url: str) -> Iterator[SqlDesk]:
    """A desk on the main database, its migrations applied first; closed after."""
    from storage import open_store  # noqa: PLC0415
    from storage.sql_desk import open_desk  # noqa: PLC0415

    store = open_store(url)
    store.migrate()
    store.close()
    desk = open_desk(url)
    try:
        yield desk
    finally:
        desk.close()


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    try:
        secret = settings.api_secret()
        audit_key = settings.audit_chain_key()
        sealer = settings.record_sealer()
    except ValueError as exc:
        print(f"vigil api: {exc}", file=sys.stderr)
        return 2
    if args.api_command == "token":
        return api_token(args, settings, secret)
    from vigil.api import api_service  # noqa: PLC0415

    if not audit_key:
        log.warning("VIGIL_AUDIT_KEY is not set: the audit chain is kept without a key")
    if sealer is None:
        log.warning("VIGIL_RECORD_KEYS is not set: health records are stored unencrypted")
    tls = None
    if settings.api_tls_cert or settings.api_tls_key:
        if not (settings.api_tls_cert and settings.api_tls_key):
            print("vigil api: set both VIGIL_API_TLS_CERT and VIGIL_API_TLS_KEY", file=sys.stderr)
            return 2
        tls = (settings.api_tls_cert, settings.api_tls_key)
    elif settings.api_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the API listens beyond this machine without TLS: set VIGIL_API_TLS_*")
    publisher = None
    if settings.education_webhook_url:
        from vigil.education_webhook import WebhookPublisher  # noqa: PLC0415

        if settings.education_webhook_secret is None:
            print("vigil api: VIGIL_EDUCATION_WEBHOOK_SECRET is not set", file=sys.stderr)
            return 2
        publisher = WebhookPublisher(
            settings.education_webhook_url,
            settings.education_webhook_secret.get_secret_value(),
        )
    return asyncio.run(
        api_service(
            settings.database_url,
            secret,
            settings.api_host,
            settings.api_port,
            audit_key=audit_key,
            consult_grace_s=settings.consult_grace_s,
            edge=settings.edge_limits(),
            metrics_at=settings.metrics_at(),
            publisher=publisher,
            sealer=sealer,
            tls=tls,
            token_ttl_s=settings.api_token_ttl_s,
        )
    )


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    """Create (or replace) a user who signs in to the API with a password."""
    import getpass  # noqa: PLC0415

    from consult_bridge.auth import Principal  # noqa: PLC0415
    from consult_bridge.login import hash_password  # noqa: PLC0415
    from schemas.accounts import Account  # noqa: PLC0415
    from storage.accounts import AccountStore  # noqa: PLC0415

    try:
        Principal(
            sub=args.sub, role=args.role, name=args.name, tenant=args.tenant, device=args.device
        )
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.sub}: ")
        hashed = hash_password(password)
    except ValueError as exc:
        print(f"vigil users add: {exc}", file=sys.stderr)
        return 2
    with migrated_desk(settings.database_url) as desk:
        AccountStore(desk).put(
            Account(
                sub=args.sub,
                role=args.role,
                name=args.name,
                tenant=args.tenant,
                device=args.device,
                password_hash=hashed,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    print(f"{args.sub} ({args.role}) may sign in: POST /v1/token")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    """Stop a user signing in (tokens already issued run out within their lifetime)."""
    from storage.accounts import AccountStore  # noqa: PLC0415
    from storage.sql_desk import open_desk  # noqa: PLC0415

    desk = open_desk(settings.database_url)
    try:
        done = AccountStore(desk).disable(args.sub)
    finally:
        desk.close()
    if not done:
        print(f"vigil users disable: no user {args.sub}", file=sys.stderr)
        return 1
    print(f"{args.sub} may no longer sign in")
    return 0


def cmd_records_rewrap(args: argparse.Namespace, settings: Settings) -> int:
    """Seal plain records and re-wrap old keys' under the current key (key rotation)."""
    del args
    from storage.rewrap import rewrap_all  # noqa: PLC0415

    try:
        sealer = settings.record_sealer()
    except ValueError as exc:
        print(f"vigil records rewrap: {exc}", file=sys.stderr)
        return 2
    if sealer is None:
        print("vigil records rewrap: VIGIL_RECORD_KEYS is not set", file=sys.stderr)
        return 2
    with migrated_desk(settings.database_url) as desk:
        changed = rewrap_all(desk, sealer)
    counts = ", ".join(f"{n} {table}" for table, n in changed.items())
    print(f"under key {sealer.current}, rewritten: {counts}")
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Walk the audit chain; 0 when whole, 1 at the first break (named), 2 on bad input."""
    from consult_bridge.audit import verify  # noqa: PLC0415
    from vigil.api import audit_log  # noqa: PLC0415

    anchor = None
    if args.anchor:
        seq, _, digest = args.anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("vigil audit verify: --anchor is SEQ:HASH (64 hex digits)", file=sys.stderr)
            return 2
        anchor = (int(seq), digest)
    try:
        key = settings.audit_chain_key()
    except ValueError as exc:
        print(f"vigil audit verify: {exc}", file=sys.stderr)
        return 2
    trail = audit_log(settings.database_url, key)
    try:
        report = verify(key, trail.walk(), anchor)
    finally:
        trail.desk.close()
    if args.json:
        import msgspec  # noqa: PLC0415

        print(msgspec.json.encode(report).decode())
    else:
        print(f"{report.entries} entries; head {report.head_seq}:{report.head_hash}")
        if report.broken is not None:
            print(f"BROKEN at entry {report.broken.seq}: {report.broken.why}")
        else:
            print("the chain holds" + (" and the anchor is in it" if anchor else ""))
    return 0 if report.broken is None else 1


def api_token(args: argparse.Namespace, settings: Settings, secret: str) -> int:
    """Print a bearer token (an operator's tool until a login flow exists)."""
    from consult_bridge.auth import Principal, issue_token  # noqa: PLC0415

    try:
        principal = Principal(
            sub=args.sub, role=args.role, name=args.name, tenant=args.tenant, device=args.device
        )
    except ValueError as exc:
        print(f"vigil api token: {exc}", file=sys.stderr)
        return 2
    ttl = args.ttl if args.ttl is not None else settings.api_token_ttl_s
    print(issue_token(principal, secret, now=dt.datetime.now(dt.UTC), ttl_s=ttl))
    return 0


def add_api_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    duration: Callable[[str], float],
) -> None:
    """Add the API's commands to ``vigil``'s parser (``duration`` parses ``--ttl 1h``)."""
    api = sub.add_parser("api", help="the API (ladders, grants, clinics) on VIGIL_API_HOST:PORT")
    api.set_defaults(func=cmd_api, api_command=None)
    api_sub = api.add_subparsers(dest="api_command")
    token = api_sub.add_parser("token", help="print a bearer token for a user (operators)")
    token.add_argument("--sub", required=True, help="the user")
    token.add_argument(
        "--role", required=True, choices=("wearer", "family", "clinician", "reviewer", "admin")
    )
    token.add_argument("--name", default="", help="how messages name the user")
    token.add_argument("--tenant", default=None, help="the clinic (clinician, reviewer, admin)")
    token.add_argument("--device", default=None, help="the wearer's band (wearer)")
    token.add_argument("--ttl", type=duration, default=None, help="e.g. 1h (default setting)")

    users = sub.add_parser("users", help="users who sign in to the API with a password")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create or replace a user (asks the password)")
    add.add_argument("sub", help="the user name they sign in with")
    add.add_argument(
        "--role", required=True, choices=("wearer", "family", "clinician", "reviewer", "admin")
    )
    add.add_argument("--name", default="", help="how messages name the user")
    add.add_argument("--tenant", default=None, help="the clinic (clinician, reviewer, admin)")
    add.add_argument("--device", default=None, help="the wearer's band (wearer)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    add.set_defaults(func=cmd_users_add)
    disable = users_sub.add_parser("disable", help="stop a user signing in")
    disable.add_argument("sub")
    disable.set_defaults(func=cmd_users_disable)

    records = sub.add_parser("records", help="the health records sealed at rest")
    records_sub = records.add_subparsers(dest="records_command", required=True)
    rewrap = records_sub.add_parser(
        "rewrap", help="seal plain records; re-wrap old keys' under the current (rotation)"
    )
    rewrap.set_defaults(func=cmd_records_rewrap)

    audit = sub.add_parser("audit", help="the records' audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="check the hash chain; print its head (SEQ:HASH) to anchor"
    )
    verify.add_argument("--anchor", default=None, help="SEQ:HASH printed by an earlier verify")
    verify.add_argument("--json", action="store_true", help="one JSON line")
    verify.set_defaults(func=cmd_audit_verify)
