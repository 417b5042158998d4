"""The `arobase` command: serve, migrate, load demo data, manage users, import, export, and
verify the audit chain."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from contextlib import closing
from datetime import date
from pathlib import Path

from sqlalchemy.engine import make_url

from app import db, logs
from app.errors import Invalid, NotFound
from app.models._base import utcnow
from app.services import accounts, audit, demo, export, questionnaires
from app.services.questionnaire_schema import QuestionnaireFileError
from app.settings import Settings, SettingsError
from app.templating import ROLE_LABELS


def _database(settings: Settings) -> db.Database:
    return db.Database(settings.database_url)


# On SIGTERM uvicorn stops accepting, closes live-editing websockets with 1012 (service restart)
# and waits for requests in progress: at most this long, so that the final group commit (the
# lifespan's shutdown) still runs within an orchestrator's grace period (30 s in Kubernetes).
GRACEFUL_SHUTDOWN_SECONDS = 20


def _is_sqlite(url: str) -> bool:
    return make_url(db.normalise_url(url)).get_backend_name() == "sqlite"


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and (not settings.redis_url or _is_sqlite(settings.database_url)):
        # Each process would hold its own copy of a document open, and with SQLite write to a
        # file the others also lock: editors of one section must share a bus and a database.
        print(
            f"erreur : --workers {args.workers} demande AROBASE_REDIS_URL (le bus entre "
            "processus) et une base PostgreSQL partagée (pas SQLite) ; sinon, un seul processus.\n"
            f"error: --workers {args.workers} needs AROBASE_REDIS_URL (the bus between "
            "processes) and a shared PostgreSQL database (not SQLite); otherwise, one process.",
            file=sys.stderr,
        )
        return 2
    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=logs.config(settings),  # uvicorn's own logs through our handler
        proxy_headers=True,
        ws="collab.transport:CollabProtocol",  # the direct path for live editing
        # Bound on queued websocket messages and on request line/headers, against memory abuse.
        ws_max_size=1024 * 1024,
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "backup":
        if args.revision is None:
            print("erreur : arobase db backup FICHIER", file=sys.stderr)
            return 2
        return _backup(settings.database_url, Path(args.revision))
    revision = args.revision or "head"
    if args.action == "upgrade":
        db.upgrade(settings.database_url, revision)
    elif args.action == "downgrade":
        db.downgrade(settings.database_url, revision)
    else:
        db.check(settings.database_url)
    return 0


def _backup(url: str, target: Path) -> int:
    """Copy a SQLite database with SQLite's online backup API: a consistent snapshot, taken
    while the server keeps writing (WAL included), unlike copying the file."""
    if not _is_sqlite(url):
        print(
            "erreur : arobase db backup ne sauvegarde que SQLite ; pour PostgreSQL, utilisez "
            "pg_dump (voir « Mise en production » dans le README)",
            file=sys.stderr,
        )
        return 2
    source = Path(str(make_url(url).database or ""))
    if not source.is_file():
        print(f"erreur : {source} : base introuvable", file=sys.stderr)
        return 1
    if target.exists():
        print(f"erreur : {target} existe déjà ; choisissez un autre nom", file=sys.stderr)
        return 1
    # Written beside the target then renamed: a backup cut short never carries the final name.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partiel")
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    print(f"Sauvegarde écrite : {target} ({target.stat().st_size // 1024} Kio)")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    database = _database(settings)
    with database.session() as session:
        ids = demo.load(session, args.password)
    database.dispose()
    if args.json:
        print(json.dumps(ids.as_json(), ensure_ascii=False, indent=2))
        return 0
    print(f"Données de démonstration prêtes : dossier n° {ids.dossier}.")
    print(f"Comptes de démonstration (mot de passe : {args.password}) :")
    for email, name, role, admin in demo.PEOPLE:
        label = "administration" if admin else ROLE_LABELS[str(role)].lower()
        print(f"  {email:<26} {name} ({label})")
    return 0


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    password = args.password
    if password is None and sys.stdin.isatty():
        password = getpass.getpass("Mot de passe (vide : aucun, connexion OpenID Connect) : ")
    database = _database(settings)
    try:
        with database.session() as session:
            user = accounts.create_user(
                session, args.email, args.name, password or None, is_admin=args.admin
            )
    except Invalid as exc:
        for message in exc.problems.values():
            print(f"erreur : {message}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(f"Compte créé : {user.email} (n° {user.id}){' — admin' if user.is_admin else ''}")
    return 0


def cmd_campagne_import(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"erreur : {path} : fichier introuvable", file=sys.stderr)
        return 1
    database = _database(settings)
    try:
        with database.session() as session:
            result = questionnaires.import_file(session, path)
    except QuestionnaireFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(result.summary())
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    database = _database(settings)
    try:
        with database.session() as session:
            data = export.dossier_json(session, args.dossier_id)
    except NotFound:
        print(f"erreur : le dossier n° {args.dossier_id} n'existe pas", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


def cmd_deadlines(settings: Settings, args: argparse.Namespace) -> int:
    from app.services import deadlines

    day = date.fromisoformat(args.date) if args.date else deadlines.today_in_paris(utcnow())
    database = _database(settings)
    try:
        with database.session() as session:
            report = deadlines.tick(session, settings, day)
    finally:
        database.dispose()
    print(f"{report.reminded} rappel(s) envoyé(s), {report.locked} dossier(s) verrouillé(s).")
    if report.locked and settings.redis_url:
        # The serving processes hold editing connections opened while these were brouillons:
        # tell them to re-check now (without Redis, the app notices at its next round).
        from collab.bus import Kind, bus_prefix, tell_everyone

        prefix = bus_prefix(settings.database_url)
        if not tell_everyone(settings.redis_url, prefix, Kind.RECHECK):
            print(
                "Redis injoignable : les éditeurs ouverts passeront en lecture seule au prochain "
                "passage périodique du serveur.",
                file=sys.stderr,
            )
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    database = _database(settings)
    try:
        with database.session() as session:
            report = audit.verify(session)
    finally:
        database.dispose()
    if not report.intact:
        print(report.summary(), file=sys.stderr)
        return 1
    print(report.summary())
    if report.last_hash:
        print(f"Empreinte du dernier événement : {report.last_hash}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arobase", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    database = sub.add_parser(
        "db",
        help="database schema (Alembic migrations) and SQLite backups",
        description="upgrade|downgrade [REVISION], check, or backup FILE (SQLite only)",
    )
    database.add_argument("action", choices=["upgrade", "downgrade", "check", "backup"])
    database.add_argument("revision", nargs="?", metavar="REVISION|FILE")
    database.set_defaults(func=cmd_db)

    demo_cmd = sub.add_parser("demo", help="load the demo data (idempotent)")
    demo_cmd.add_argument("--password", default=demo.DEFAULT_PASSWORD)
    demo_cmd.add_argument("--json", action="store_true", help="print the demo's ids as JSON")
    demo_cmd.set_defaults(func=cmd_demo)

    user = sub.add_parser("user", help="manage accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account")
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument("--password")
    add.add_argument("--admin", action="store_true")
    add.set_defaults(func=cmd_user_add)

    campagne = sub.add_parser("campagne", help="campagnes and their questionnaires")
    campagne_sub = campagne.add_subparsers(dest="campagne_command", required=True)
    imp = campagne_sub.add_parser("import", help="import a questionnaire file (YAML or JSON)")
    imp.add_argument("file")
    imp.set_defaults(func=cmd_campagne_import)

    exp = sub.add_parser("export", help="export a dossier")
    exp.add_argument("dossier_id", type=int)
    exp.add_argument("--format", choices=["json"], default="json")
    exp.add_argument("-o", "--output")
    exp.set_defaults(func=cmd_export)

    audit_cmd = sub.add_parser("audit", help="the audit journal")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser(
        "verify", help="verify the hash chain of audit events (exit 1 when broken)"
    )
    check.set_defaults(func=cmd_audit_verify)

    due = sub.add_parser(
        "echeances",
        help="send the deadline reminders that are due and lock overdue drafts (idempotent)",
    )
    due.add_argument("--date", help="act as if today were this date (YYYY-MM-DD)")
    due.set_defaults(func=cmd_deadlines)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"erreur de configuration : {exc}", file=sys.stderr)
        return 2
    return int(args.func(settings, args))


if __name__ == "__main__":
    sys.exit(main())
