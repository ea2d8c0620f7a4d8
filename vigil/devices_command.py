"""``vigil devices``: the broker identities of bands, gateways and services (issue 10).

``provision NAME [--gateway --bands A,B | --service]`` creates an identity, or gives an
existing one a new password, prints the password once and rewrites Mosquitto's password
and ACL files in ``VIGIL_BROKER_AUTH_DIR`` (``vigil/broker_auth.py``); ``revoke NAME``
removes one; ``list`` shows them (never a password). Mosquitto rereads the files on
SIGHUP (``kill -HUP``, or ``systemctl reload mosquitto``). With
``VIGIL_DYNSEC_ADMIN_USERNAME`` and ``_PASSWORD`` set, both also apply the change to the
broker's dynamic-security plugin at once (``vigil/dynsec.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from vigil.broker_auth import BrokerAuth, Kind
from vigil.dynsec import DynsecAdmin, DynsecError, provision_commands, revoke_commands
from vigil.settings import Settings


def add_devices_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigil devices`` to the parser."""
    devices = sub.add_parser("devices", help="per-device broker credentials and ACLs")
    devices_sub = devices.add_subparsers(dest="devices_command", required=True)
    provision = devices_sub.add_parser(
        "provision", help="create an identity or give it a new password (printed once)"
    )
    provision.add_argument("name", help="the MQTT user name: a band's device id, a gateway id")
    kind = provision.add_mutually_exclusive_group()
    kind.add_argument("--gateway", action="store_true", help="a gateway (with --bands)")
    kind.add_argument("--service", action="store_true", help="a backend: vigil run, bridge")
    provision.add_argument("--bands", default="", help="a gateway's bands, comma-separated")
    provision.set_defaults(func=cmd_provision)
    revoke = devices_sub.add_parser("revoke", help="remove an identity")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)
    listing = devices_sub.add_parser("list", help="the identities (no passwords)")
    listing.set_defaults(func=cmd_list)


def _book(settings: Settings) -> BrokerAuth:
    return BrokerAuth(Path(settings.broker_auth_dir))


def cmd_provision(args: argparse.Namespace, settings: Settings) -> int:
    """``vigil devices provision``."""
    kind: Kind = "gateway" if args.gateway else "service" if args.service else "device"
    bands = tuple(b.strip() for b in args.bands.split(",") if b.strip())
    book = _book(settings)
    try:
        password = book.provision(args.name, kind, bands=bands, now=dt.datetime.now(dt.UTC))
    except ValueError as exc:
        print(f"vigil devices: {exc}", file=sys.stderr)
        return 2
    admin = _dynsec(settings)
    if admin is not None:
        who = next(i for i in book.identities() if i.name == args.name)
        try:
            admin.send(provision_commands(who, password))
        except DynsecError as exc:
            print(f"vigil devices: dynamic security: {exc}", file=sys.stderr)
            return 3
    print(f"username: {args.name}")
    print(f"password: {password}")
    print(f"# shown once; written to {book.passwd} and {book.acl}: reload Mosquitto (SIGHUP)")
    if admin is not None:
        print("# and applied to the broker's dynamic-security plugin")
    return 0


def _dynsec(settings: Settings) -> DynsecAdmin | None:
    """The plugin's admin client, when its credentials are set."""
    if settings.dynsec_admin_username is None or settings.dynsec_admin_password is None:
        return None
    return DynsecAdmin(
        settings.mqtt_host,
        settings.mqtt_port,
        settings.dynsec_admin_username,
        settings.dynsec_admin_password.get_secret_value(),
        tls_ca=settings.mqtt_tls_ca,
    )


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """``vigil devices revoke``: exit 1 when there was no such identity."""
    if not _book(settings).revoke(args.name):
        print(f"vigil devices: no identity {args.name!r}", file=sys.stderr)
        return 1
    admin = _dynsec(settings)
    if admin is not None:
        try:
            admin.send(revoke_commands(args.name))
        except DynsecError as exc:
            print(f"vigil devices: dynamic security: {exc}", file=sys.stderr)
            return 3
    print(f"revoked {args.name}: reload Mosquitto (SIGHUP)")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """``vigil devices list``."""
    del args
    for who in _book(settings).identities():
        bands = ",".join(who.bands)
        print(f"{who.name}  {who.kind}  {bands}".rstrip() + f"  since {who.created_at:%Y-%m-%d}")
    return 0
