"""The ``vigil`` command line: demo, run, bridge, worker, sim, db, schemas, analyze-ecg, ..."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import msgspec
from pydantic import ValidationError

from vigil.api_commands import add_api_commands
from vigil.devices_command import add_devices_commands
from vigil.settings import Settings

if TYPE_CHECKING:
    from alerting.ladder_store import LadderStore
    from vigil.demo import DemoOptions

_T = TypeVar("_T")

log = logging.getLogger("vigil")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        print(f"vigil: invalid settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (and error)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _configure_logging(level: str, form: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


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


def _cmd_sim_verify(args: argparse.Namespace, settings: Settings) -> int:
    from device_sim.faults import FAULT_NAMES, Faults  # noqa: PLC0415
    from vigil import local_servers  # noqa: PLC0415
    from vigil.demo import DemoOptions, run_demo  # noqa: PLC0415 - keep start-up light

    faults = tuple(filter(None, (f.strip() for f in args.faults.split(","))))
    if faults == ("all",):
        faults = FAULT_NAMES
    try:
        Faults.named(faults)
    except ValueError as exc:
        print(f"vigil sim verify: {exc}", file=sys.stderr)
        return 2
    if "broker_restart" in faults and local_servers.find_mosquitto() is None:
        # The run restarts a Mosquitto of its own: amqtt keeps no session over a restart.
        print(
            "vigil sim verify: the broker_restart fault needs Mosquitto "
            "(apt-get install mosquitto)",
            file=sys.stderr,
        )
        return 2
    options = DemoOptions(
        seconds=args.seconds,
        devices=1,
        rate_hz=args.rate,
        speed=args.speed,
        seed=args.seed,
        json=args.json,
        scenario=args.scenario,
        faults=faults,
    )
    if args.running:
        return _verify_running(options, settings)
    try:
        summary = asyncio.run(run_demo(options, settings))
    except ValueError as exc:  # an unknown scenario, or one that does not parse
        print(f"vigil sim verify: {exc}", file=sys.stderr)
        return 2

    (outcome,) = summary["expectations"].values()
    result = {
        "scenario": outcome["scenario"],
        "faults": list(options.faults),
        "ok": summary["ok"],
        "problems": outcome["problems"],
        "highest_level": outcome["highest_level"],
        "alert_sources": outcome["alert_sources"],
        "messages_sent": summary["published_batches"],
        "messages_distinct": summary["distinct_messages"],
        "messages_stored": summary["messages_stored"],
        "malformed_sent": summary["malformed_sent"],
        "dead_letters": summary["dead_letters"],
        "broker_restarts": summary["broker_restarts"],
    }
    if not summary["ok"] and outcome["ok"]:  # the alerts were right; the storage was not
        stored = (
            f"stored {result['messages_stored']} of {result['messages_distinct']} distinct "
            f"messages, {result['dead_letters']} dead letters for "
            f"{result['malformed_sent']} malformed payloads"
        )
        result["problems"] = [stored]
    return _print_verdict(result, as_json=args.json)


def _print_verdict(result: dict[str, object], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, sort_keys=True))
    else:
        verdict = "as expected" if result["ok"] else "NOT as expected"
        print(f"{result['scenario']}: {verdict}")
        for problem in cast("list[str]", result["problems"]):
            print(f"  - {problem}")
    return 0 if result["ok"] else 1


def _verify_running(options: DemoOptions, settings: Settings) -> int:
    """``vigil sim verify --running``: against the pipeline of the settings' broker and DB."""
    from vigil.verify_running import verify_running  # noqa: PLC0415

    try:
        run = asyncio.run(verify_running(options, settings))
    except ValueError as exc:
        print(f"vigil sim verify: {exc}", file=sys.stderr)
        return 2
    outcome, published = run["outcome"], run["published"]
    problems = list(outcome["problems"])
    if run["readings_stored"] <= 0:
        problems.append("the running pipeline stored nothing for the wearer")
    result = {
        "scenario": outcome["scenario"],
        "device_id": run["device_id"],
        "faults": list(options.faults),
        "ok": not problems,
        "problems": problems,
        "highest_level": outcome["highest_level"],
        "alert_sources": outcome["alert_sources"],
        "messages_sent": published.batches,
        "messages_distinct": published.faults.distinct,
        "readings_stored": run["readings_stored"],
    }
    return _print_verdict(result, as_json=options.json)


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.service import run_service  # noqa: PLC0415

    del args
    return asyncio.run(run_service(settings))


def _cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.ladder_side import alerts_service  # noqa: PLC0415

    del args
    return asyncio.run(alerts_service(settings))


def _cmd_bridge(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.kafka_service import bridge_service  # noqa: PLC0415

    del args
    return asyncio.run(bridge_service(settings))


def _cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.gateway import gateway_service  # noqa: PLC0415 - needs the [gateway] extra

    del args
    return asyncio.run(gateway_service(settings))


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.kafka_service import worker_service  # noqa: PLC0415

    return worker_service(settings, sink=not args.no_sink)


def _cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from device_sim.load import BrokerTarget, run_load  # noqa: PLC0415
    from device_sim.publisher import FleetPlan  # noqa: PLC0415
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
    target = BrokerTarget.from_mqtt(settings.mqtt())
    if args.processes < 1 or args.devices < 1:
        print("vigil sim: --devices and --processes must be at least 1", file=sys.stderr)
        return 2
    try:
        report = run_load(plan, target, processes=args.processes)
    except (OSError, RuntimeError) as exc:
        print(f"vigil sim: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(msgspec.structs.asdict(report)))
    return 0 if report.failed == 0 else 1


def _cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.bench_command import benchmark_names, project_root, run_all  # noqa: PLC0415

    del settings
    try:
        root = project_root()
    except FileNotFoundError as exc:
        print(f"vigil bench: {exc}", file=sys.stderr)
        return 2
    known = benchmark_names(root)
    if args.list:
        print("\n".join(known))
        return 0
    unknown = sorted(set(args.names) - set(known))
    extra: dict[str, list[str]] = {}
    for item in args.args:
        name, sep, rest = item.partition("=")
        if not sep:
            unknown.append(item)
            continue
        extra[name] = shlex.split(rest)
    unknown += sorted(set(extra) - set(known))
    if unknown:
        print(f"vigil bench: unknown benchmark or --args: {', '.join(unknown)}", file=sys.stderr)
        print(f"vigil bench: benchmarks: {', '.join(known)}", file=sys.stderr)
        return 2
    output = args.output or root / "BENCHMARKS.md"
    outcomes = run_all(args.names or known, extra, output=output.resolve(), timeout_s=args.timeout)
    failed = [o.name for o in outcomes if o.error]
    print(
        json.dumps(
            {
                "benchmarks_run": len(outcomes),
                "benchmarks_failed": failed,
                "seconds": round(sum(o.seconds for o in outcomes), 1),
                "output": str(output),
            }
        )
    )
    return 1 if failed else 0


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
    """``vigil alerts``, and the API's commands (``vigil/api_commands.py``)."""
    alerts = sub.add_parser(
        "alerts", help="drive the alert ladders of the configured database (one leads)"
    )
    alerts.set_defaults(func=_cmd_alerts)

    add_api_commands(sub, duration=_duration_s)


def _add_sim_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``vigil sim`` (publish a fleet) and ``vigil sim verify`` (check a scenario)."""
    sim = sub.add_parser("sim", help="publish a simulated fleet to the configured broker")
    sim.add_argument("--devices", type=int, default=10)
    sim.add_argument("--rate", type=float, default=1.0, help="batches per second per device")
    sim.add_argument("--seconds", type=float, default=30.0)
    sim.add_argument("--speed", type=float, default=1.0, help="device seconds per wall second")
    sim.add_argument("--scenario", default="healthy", help="built-in name or a .toml path")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--id-prefix", default="wb")
    sim.add_argument(
        "--processes", type=int, default=1, help="publishing processes, each with its share"
    )
    sim.set_defaults(func=_cmd_sim)
    sim_sub = sim.add_subparsers(dest="sim_command")
    verify = sim_sub.add_parser(
        "verify",
        help="run a scenario on the embedded pipeline and check its expected outcome",
    )
    verify.add_argument("scenario", help="built-in name or a .toml path")
    verify.add_argument("--seconds", type=float, default=20.0, help="wall time to play it in")
    verify.add_argument("--rate", type=float, default=2.0, help="batches per wall second")
    verify.add_argument("--speed", type=float, default=None, help="default: fit the scenario")
    verify.add_argument("--seed", type=int, default=1)
    verify.add_argument(
        "--faults",
        default="",
        help=(
            "comma-separated: skew, duplicates, reorder, backfill, malformed, broker_restart "
            "(needs Mosquitto installed); or all"
        ),
    )
    verify.add_argument("--json", action="store_true", help="one JSON line of the outcome")
    verify.add_argument(
        "--running",
        action="store_true",
        help="against the pipeline on the configured broker and database (vigil run)",
    )
    verify.set_defaults(func=_cmd_sim_verify)


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
    add_devices_commands(sub)

    bridge = sub.add_parser("bridge", help="forward MQTT to Kafka, keyed by device (scale-out)")
    bridge.set_defaults(func=_cmd_bridge)

    gateway = sub.add_parser("gateway", help="BLE wristbands to the broker (store and forward)")
    gateway.set_defaults(func=_cmd_gateway)

    worker = sub.add_parser("worker", help="a Faust worker running the processors (scale-out)")
    worker.add_argument(
        "--no-sink", action="store_true", help="leave storage to other workers or consumers"
    )
    worker.set_defaults(func=_cmd_worker)

    _add_sim_commands(sub)

    bench = sub.add_parser(
        "bench", help="run the benchmarks in bench/ with their baselines; rewrite BENCHMARKS.md"
    )
    bench.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bench.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='arguments for one benchmark, e.g. --args "stream=--devices 1000"',
    )
    bench.add_argument("--output", type=Path, default=None, help="default: BENCHMARKS.md")
    bench.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    bench.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    bench.set_defaults(func=_cmd_bench)

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
    _configure_logging(settings.log_level, settings.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        return int(args.func(args, settings))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
