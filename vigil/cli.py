"""The ``vigil`` command line: demo, run, bridge, worker, sim, db, schemas, analyze-ecg, ..."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from vigil.settings import Settings

if TYPE_CHECKING:
    from alerting.ladder_store import LadderStore

_T = TypeVar("_T")

log = logging.getLogger("vigil")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        print(f"vigil: invalid settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.demo import DemoOptions, run_demo  # noqa: PLC0415 - keep start-up light

    options = DemoOptions(
        seconds=args.seconds,
        devices=args.devices,
        rate_hz=args.rate,
        speed=args.speed,
        seed=args.seed,
        json=args.json,
        db_path=args.db,
    )
    summary = asyncio.run(run_demo(options, settings))
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0 if summary["ok"] else 1


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.service import run_service  # noqa: PLC0415

    del args
    return asyncio.run(run_service(settings))


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    try:
        secret = settings.api_secret()
        audit_key = settings.audit_chain_key()
        sealer = settings.record_sealer()
    except ValueError as exc:
        print(f"vigil api: {exc}", file=sys.stderr)
        return 2
    if args.api_command == "token":
        return _api_token(args, settings, secret)
    from vigil.api import api_service  # noqa: PLC0415

    if not audit_key:
        log.warning("VIGIL_AUDIT_KEY is not set: the audit chain is kept without a key")
    if sealer is None:
        log.warning("VIGIL_RECORD_KEYS is not set: consultations are stored unencrypted")
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
            publisher=publisher,
            sealer=sealer,
            tls=tls,
            token_ttl_s=settings.api_token_ttl_s,
        )
    )


def _cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    """Create (or replace) a user who signs in to the API with a password."""
    import getpass  # noqa: PLC0415

    from consult_bridge.auth import Principal  # noqa: PLC0415
    from consult_bridge.login import hash_password  # noqa: PLC0415
    from schemas.accounts import Account  # noqa: PLC0415
    from storage import open_store  # noqa: PLC0415
    from storage.accounts import AccountStore  # noqa: PLC0415
    from storage.sql_desk import open_desk  # noqa: PLC0415

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
    store = open_store(settings.database_url)
    store.migrate()
    store.close()
    desk = open_desk(settings.database_url)
    try:
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
    finally:
        desk.close()
    print(f"{args.sub} ({args.role}) may sign in: POST /v1/token")
    return 0


def _cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
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


def _cmd_records_rewrap(args: argparse.Namespace, settings: Settings) -> int:
    """Seal plain records and re-wrap old keys' under the current key (key rotation)."""
    del args
    from storage import open_store  # noqa: PLC0415
    from storage.consultations import ConsultationStore  # noqa: PLC0415
    from storage.health_profiles import HealthProfileStore  # noqa: PLC0415
    from storage.health_reads import rewrap_ecg_strips, rewrap_sealed_fixes  # noqa: PLC0415
    from storage.notices import NoticeBoard  # noqa: PLC0415
    from storage.sql_desk import open_desk  # noqa: PLC0415

    try:
        sealer = settings.record_sealer()
    except ValueError as exc:
        print(f"vigil records rewrap: {exc}", file=sys.stderr)
        return 2
    if sealer is None:
        print("vigil records rewrap: VIGIL_RECORD_KEYS is not set", file=sys.stderr)
        return 2
    store = open_store(settings.database_url)
    store.migrate()
    store.close()
    desk = open_desk(settings.database_url)
    try:
        consults = ConsultationStore(desk, sealer).rewrap(sealer)
        notices = NoticeBoard(desk, sealer).rewrap(sealer)
        records = HealthProfileStore(desk, sealer).rewrap(sealer)
        strips = rewrap_ecg_strips(desk, sealer)
        fixes = rewrap_sealed_fixes(desk, sealer)
    finally:
        desk.close()
    print(
        f"under key {sealer.current}: {consults} consultations, {notices} notices, "
        f"{records} health records, {strips} ECG strips, {fixes} location fixes rewritten"
    )
    return 0


def _cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
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


def _api_token(args: argparse.Namespace, settings: Settings, secret: str) -> int:
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


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.ladder_side import alerts_service  # noqa: PLC0415

    del args
    return asyncio.run(alerts_service(settings))


def _cmd_bridge(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.kafka_service import bridge_service  # noqa: PLC0415

    del args
    return asyncio.run(bridge_service(settings))


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.kafka_service import worker_service  # noqa: PLC0415

    return worker_service(settings, sink=not args.no_sink)


def _cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from device_sim.publisher import FleetPlan, MqttPublisher, run_fleet  # noqa: PLC0415
    from device_sim.scenario import load_scenario  # noqa: PLC0415

    scenario = load_scenario(args.scenario)
    plan = FleetPlan(
        devices=args.devices,
        rate_hz=args.rate,
        seconds=args.seconds,
        speed=args.speed,
        seed=args.seed,
        default=scenario,
        id_prefix=args.id_prefix,
    )
    publisher = MqttPublisher(
        settings.mqtt_host,
        settings.mqtt_port,
        client_id=f"vigil-sim-{args.id_prefix}",
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        protocol=settings.mqtt_protocol,
    )
    publisher.connect()
    try:
        stats = asyncio.run(run_fleet(plan, publisher))
    finally:
        publisher.close()
    rate = stats.batches / args.seconds if args.seconds else 0.0
    print(
        json.dumps(
            {
                "batches": stats.batches,
                "samples": stats.samples,
                "failed": stats.failed,
                "messages_per_s": round(rate, 1),
            }
        )
    )
    return 0 if stats.failed == 0 else 1


def _cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from storage import open_store  # noqa: PLC0415

    del args
    store = open_store(settings.database_url)
    try:
        applied = store.migrate()
    finally:
        store.close()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def _cmd_schemas_export(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.jsonschema_export import SCHEMA_DIR, export  # noqa: PLC0415

    del settings
    for path in export(args.out or SCHEMA_DIR):
        print(path)
    return 0


def _cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    from storage import open_store  # noqa: PLC0415

    store = open_store(settings.database_url)
    try:
        for d in store.dead_letters(args.limit):
            print(
                json.dumps(
                    {
                        "received_at": d.received_at.isoformat(),
                        "topic": d.topic,
                        "reason": d.reason,
                        "detail": d.detail,
                        "payload_size": d.payload_size,
                    }
                )
            )
    finally:
        store.close()
    return 0


def _read_document(path: Path, load: Callable[[bytes, bool], _T]) -> _T | None:
    """``load(bytes, toml)`` of a file; None (the reason printed) if unreadable or invalid."""
    from vigil.profiles import ProfileError  # noqa: PLC0415

    try:
        return load(path.read_bytes(), path.suffix == ".toml")
    except OSError as exc:
        print(f"vigil: cannot read {path}: {exc.strerror}", file=sys.stderr)
    except ProfileError as exc:
        print(f"vigil: {path}: {exc}", file=sys.stderr)
    return None


def _cmd_wearer_set(args: argparse.Namespace, settings: Settings) -> int:
    from storage import open_store  # noqa: PLC0415
    from vigil.profiles import encode_profile, load_profile  # noqa: PLC0415

    profile = _read_document(Path(args.profile), lambda raw, toml: load_profile(raw, toml=toml))
    if profile is None:
        return 2
    store = open_store(settings.database_url)
    try:
        store.migrate()
        revision = store.put_wearer(args.device_id, encode_profile(profile))
    finally:
        store.close()
    print(f"stored the profile of {args.device_id} (revision {revision})")
    return 0


def _cmd_wearer_show(args: argparse.Namespace, settings: Settings) -> int:
    from storage import open_store  # noqa: PLC0415

    store = open_store(settings.database_url)
    try:
        store.migrate()
        stored = [r for r in store.wearers_since(0) if r.device_id == args.device_id]
    finally:
        store.close()
    if not stored:
        print(
            f"vigil: no profile stored for {args.device_id} (the default applies)", file=sys.stderr
        )
        return 1
    print(json.dumps(json.loads(stored[-1].profile), indent=2, sort_keys=True))
    return 0


@contextlib.contextmanager
def _ladders(settings: Settings) -> Iterator[LadderStore]:
    """The ladder store, its database migrated first (PostgreSQL keeps it there)."""
    from alerting.ladder_store import open_ladder_store  # noqa: PLC0415
    from storage import open_store  # noqa: PLC0415

    store = open_store(settings.database_url)
    try:
        store.migrate()
    finally:
        store.close()
    ladders = open_ladder_store(settings.database_url)
    try:
        yield ladders
    finally:
        ladders.close()


def _cmd_contacts_set(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.contacts_file import load_contacts  # noqa: PLC0415

    alerting = _read_document(Path(args.file), lambda raw, toml: load_contacts(raw, toml=toml))
    if alerting is None:
        return 2
    with _ladders(settings) as ladders:
        ladders.put_wearer_alerting(args.device_id, alerting)
    emergency = len(alerting.directory.emergency_contacts)
    print(
        f"stored {len(alerting.directory.contacts)} contacts ({emergency} emergency) "
        f"and {len(alerting.call_log)} calls for {args.device_id}"
    )
    return 0


def _cmd_contacts_show(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec  # noqa: PLC0415

    with _ladders(settings) as ladders:
        stored = ladders.wearer_alerting(args.device_id)
    if stored is None:
        print(f"vigil: no contacts stored for {args.device_id}", file=sys.stderr)
        return 1
    print(json.dumps(msgspec.to_builtins(stored), indent=2, sort_keys=True))
    return 0


def _duration_s(text: str) -> float:
    """``90`` or ``90s``, ``45m``, ``2h`` as seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    scale = units.get(text[-1:].lower())
    number = text[:-1] if scale is not None else text
    try:
        return float(number) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 45m, 2h)") from None


def _cmd_snooze_set(args: argparse.Namespace, settings: Settings) -> int:
    from alerting.snooze import Snooze, SnoozeError, check_snooze  # noqa: PLC0415

    try:
        check_snooze(args.what, args.duration)
    except SnoozeError as exc:
        print(f"vigil snooze: {exc}", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(seconds=args.duration)
    snooze = Snooze(
        device_id=args.device_id,
        what=args.what,
        until=until,
        by=args.by,
        reason=args.reason,
        set_at=now,
    )
    with _ladders(settings) as ladders:
        ladders.put_snooze(snooze)
    print(f"{args.what} snoozed for {args.device_id} until {until:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _cmd_snooze_list(args: argparse.Namespace, settings: Settings) -> int:
    now = dt.datetime.now(dt.UTC)
    with _ladders(settings) as ladders:
        snoozes = ladders.snoozes_of(args.device_id, now)
        held = ladders.held(args.device_id)
    for s in snoozes:
        count = sum(1 for _, what, at in held if what == s.what and at >= s.set_at)
        reason = f" ({s.reason})" if s.reason else ""
        print(
            f"{s.what}: until {s.until:%Y-%m-%d %H:%M:%S} UTC, by {s.by}{reason}; "
            f"{count} alerts held back"
        )
    if not snoozes:
        print(f"no snoozes in force for {args.device_id}")
    return 0


def _cmd_snooze_clear(args: argparse.Namespace, settings: Settings) -> int:
    with _ladders(settings) as ladders:
        cleared = ladders.clear_snooze(args.device_id, args.what)
    if not cleared:
        print(f"vigil snooze: {args.what} was not snoozed for {args.device_id}", file=sys.stderr)
        return 1
    print(f"{args.what} no longer snoozed for {args.device_id}")
    return 0


def _cmd_analyze_ecg(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.wfdb import WfdbError  # noqa: PLC0415
    from scoring.ecg import EcgError  # noqa: PLC0415
    from vigil.analysis import analyze_ecg  # noqa: PLC0415

    del settings
    try:
        result = analyze_ecg(args.record, args.signal)
    except (WfdbError, EcgError, ValueError) as exc:
        print(f"vigil analyze-ecg: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['record']}: {result['rhythm']}"
            + (
                f" (AF in {result['af_probability']:.0%} of windows)"
                if result["af_probability"] is not None
                else ""
            )
            + f", {len(result['r_peaks'])} beats, "
            + (
                f"{result['heart_rate_bpm']:.0f} bpm"
                if result["heart_rate_bpm"] is not None
                else "no heart rate"
            )
        )
        for reason in result["quality"]["reasons"]:
            print(f"  unreadable: {reason}")
    return 0


def _cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.score_command import score_lines  # noqa: PLC0415

    del settings
    ok = True
    source = args.input.open("rb") if args.input else sys.stdin.buffer
    try:
        out = sys.stdout.buffer
        for line, good in score_lines(source):
            out.write(line + b"\n")
            if not good:
                ok = False
        out.flush()
    finally:
        if args.input:
            source.close()
    return 0 if ok else 1


def _cmd_analyze_rr(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.analysis import analyze_rr  # noqa: PLC0415

    del settings
    try:
        result = analyze_rr(args.file)
    except (OSError, ValueError) as exc:
        print(f"vigil analyze-rr: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _cmd_validate_af(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.wfdb import WfdbError  # noqa: PLC0415
    from vigil.analysis import validate_af  # noqa: PLC0415

    del settings
    try:
        result = validate_af(args.directory)
    except (OSError, WfdbError) as exc:
        print(f"vigil validate-af: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _add_analysis_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The offline commands: score, analyze-ecg, analyze-rr, validate-af."""
    score = sub.add_parser("score", help="NEWS2 for JSON lines of vital sets (stdin or a file)")
    score.add_argument("input", type=Path, nargs="?", default=None)
    score.set_defaults(func=_cmd_score)

    ecg = sub.add_parser("analyze-ecg", help="R peaks, heart rate and rhythm of a WFDB record")
    ecg.add_argument("record", type=Path, help="record path without extension (e.g. data/100)")
    ecg.add_argument("--signal", type=int, default=0, help="signal (lead) index")
    ecg.add_argument("--json", action="store_true", help="one JSON object")
    ecg.set_defaults(func=_cmd_analyze_ecg)

    rr = sub.add_parser("analyze-rr", help="HRV of RR intervals (ms, one per line, or .npy)")
    rr.add_argument("file", type=Path)
    rr.add_argument("--json", action="store_true", help="one JSON line")
    rr.set_defaults(func=_cmd_analyze_rr)

    validate = sub.add_parser("validate-af", help="score the AF detectors on a labelled set")
    validate.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("../shared/data/ecg/cinc2017-dev"),
        help="records and REFERENCE.csv (CinC 2017 layout)",
    )
    validate.add_argument("--json", action="store_true", help="one JSON line")
    validate.set_defaults(func=_cmd_validate_af)


def _add_wearer_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``vigil wearer set|show``, ``vigil contacts set|show`` and ``vigil snooze``."""
    wearer = sub.add_parser("wearer", help="wearer profiles: fences, conditions, at-risk mark")
    wearer_sub = wearer.add_subparsers(dest="wearer_command", required=True)
    wearer_set = wearer_sub.add_parser("set", help="store a profile from a .toml or .json file")
    wearer_set.add_argument("device_id")
    wearer_set.add_argument("profile", help="a WearerProfile as TOML (.toml) or JSON")
    wearer_set.set_defaults(func=_cmd_wearer_set)
    wearer_show = wearer_sub.add_parser("show", help="print a wearer's stored profile")
    wearer_show.add_argument("device_id")
    wearer_show.set_defaults(func=_cmd_wearer_show)

    contacts = sub.add_parser("contacts", help="who a wearer's alert ladder tells, and when")
    contacts_sub = contacts.add_subparsers(dest="contacts_command", required=True)
    contacts_set = contacts_sub.add_parser(
        "set", help="store contacts, ladder timing and call log from a .toml or .json file"
    )
    contacts_set.add_argument("device_id")
    contacts_set.add_argument("file")
    contacts_set.set_defaults(func=_cmd_contacts_set)
    contacts_show = contacts_sub.add_parser("show", help="print a wearer's stored contacts")
    contacts_show.add_argument("device_id")
    contacts_show.set_defaults(func=_cmd_contacts_show)

    snooze = sub.add_parser(
        "snooze", help="hold back one kind of alert for a while (never red, SOS, falls)"
    )
    snooze_sub = snooze.add_subparsers(dest="snooze_command", required=True)
    snooze_set = snooze_sub.add_parser(
        "set", help="snooze a direction: pulse:high, temperature:low, stress, geofence:<id>, ..."
    )
    snooze_set.add_argument("device_id")
    snooze_set.add_argument("what")
    snooze_set.add_argument(
        "--for", dest="duration", type=_duration_s, required=True, help="e.g. 45m, 2h (<= 12h)"
    )
    snooze_set.add_argument("--by", required=True, help="who asked for it (kept with it)")
    snooze_set.add_argument("--reason", default="")
    snooze_set.set_defaults(func=_cmd_snooze_set)
    snooze_list = snooze_sub.add_parser("list", help="a wearer's snoozes in force")
    snooze_list.add_argument("device_id")
    snooze_list.set_defaults(func=_cmd_snooze_list)
    snooze_clear = snooze_sub.add_parser("clear", help="end a snooze now")
    snooze_clear.add_argument("device_id")
    snooze_clear.add_argument("what")
    snooze_clear.set_defaults(func=_cmd_snooze_clear)


def _add_alerts_and_api_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``vigil alerts``, ``vigil api``, ``vigil api token`` and ``vigil audit verify``."""
    alerts = sub.add_parser(
        "alerts", help="drive the alert ladders of the configured database (one leads)"
    )
    alerts.set_defaults(func=_cmd_alerts)

    api = sub.add_parser("api", help="the API (ladders, grants, clinics) on VIGIL_API_HOST:PORT")
    api.set_defaults(func=_cmd_api, api_command=None)
    api_sub = api.add_subparsers(dest="api_command")
    token = api_sub.add_parser("token", help="print a bearer token for a user (operators)")
    token.add_argument("--sub", required=True, help="the user")
    token.add_argument(
        "--role", required=True, choices=("wearer", "family", "clinician", "reviewer", "admin")
    )
    token.add_argument("--name", default="", help="how messages name the user")
    token.add_argument("--tenant", default=None, help="the clinic (clinician, reviewer, admin)")
    token.add_argument("--device", default=None, help="the wearer's band (wearer)")
    token.add_argument("--ttl", type=_duration_s, default=None, help="e.g. 1h (default setting)")

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
    add.set_defaults(func=_cmd_users_add)
    disable = users_sub.add_parser("disable", help="stop a user signing in")
    disable.add_argument("sub")
    disable.set_defaults(func=_cmd_users_disable)

    records = sub.add_parser("records", help="the health records sealed at rest")
    records_sub = records.add_subparsers(dest="records_command", required=True)
    rewrap = records_sub.add_parser(
        "rewrap", help="seal plain records; re-wrap old keys' under the current (rotation)"
    )
    rewrap.set_defaults(func=_cmd_records_rewrap)

    audit = sub.add_parser("audit", help="the records' audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="check the hash chain; print its head (SEQ:HASH) to anchor"
    )
    verify.add_argument("--anchor", default=None, help="SEQ:HASH printed by an earlier verify")
    verify.add_argument("--json", action="store_true", help="one JSON line")
    verify.set_defaults(func=_cmd_audit_verify)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vigil``."""
    parser = argparse.ArgumentParser(prog="vigil", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="broker + simulator + pipeline in one process, no servers")
    demo.add_argument("--seconds", type=float, default=30.0)
    demo.add_argument("--devices", type=int, default=5)
    demo.add_argument("--rate", type=float, default=1.0, help="batches per second per device")
    demo.add_argument(
        "--speed",
        type=float,
        default=None,
        help="device seconds per wall second (default: whole scenario in --seconds)",
    )
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--db", type=Path, default=None, help="keep the SQLite file here")
    demo.add_argument("--json", action="store_true", help="end stdout with one JSON summary line")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="the pipeline against the configured broker and database")
    run.set_defaults(func=_cmd_run)

    _add_alerts_and_api_commands(sub)

    bridge = sub.add_parser("bridge", help="forward MQTT to Kafka, keyed by device (scale-out)")
    bridge.set_defaults(func=_cmd_bridge)

    worker = sub.add_parser("worker", help="a Faust worker running the processors (scale-out)")
    worker.add_argument(
        "--no-sink", action="store_true", help="leave storage to other workers or consumers"
    )
    worker.set_defaults(func=_cmd_worker)

    sim = sub.add_parser("sim", help="publish a simulated fleet to the configured broker")
    sim.add_argument("--devices", type=int, default=10)
    sim.add_argument("--rate", type=float, default=1.0, help="batches per second per device")
    sim.add_argument("--seconds", type=float, default=30.0)
    sim.add_argument("--speed", type=float, default=1.0, help="device seconds per wall second")
    sim.add_argument("--scenario", default="healthy", help="built-in name or a .toml path")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--id-prefix", default="wb")
    sim.set_defaults(func=_cmd_sim)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=_cmd_db_migrate)

    schemas = sub.add_parser("schemas", help="wire schemas")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser("export", help="write the JSON Schema files")
    export.add_argument("--out", type=Path, default=None)
    export.set_defaults(func=_cmd_schemas_export)

    _add_analysis_commands(sub)

    _add_wearer_commands(sub)

    dead = sub.add_parser("dead-letters", help="list the newest dead letters")
    dead.add_argument("--limit", type=int, default=20)
    dead.set_defaults(func=_cmd_dead_letters)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vigil`` console script."""
    args = build_parser().parse_args(argv)
    settings = _settings()
    _configure_logging(settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        return int(args.func(args, settings))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
