"""The `arobase` command: serve, migrate, load demo data, manage users, import, export, and
verify the audit chain."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from app import db
from app.errors import Invalid, NotFound
from app.services import accounts, audit, demo, export, questionnaires
from app.services.questionnaire_schema import QuestionnaireFileError
from app.settings import Settings, SettingsError
from app.templating import ROLE_LABELS


def _database(settings: Settings) -> db.Database:
    return db.Database(settings.database_url)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        proxy_headers=True,
        ws="collab.transport:CollabProtocol",  # the direct path for live editing
        # Bound on queued websocket messages and on request line/headers, against memory abuse.
        ws_max_size=1024 * 1024,
        h11_max_incomplete_event_size=64 * 1024,
    )
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "upgrade":
        db.upgrade(settings.database_url, args.revision)
    elif args.action == "downgrade":
        db.downgrade(settings.database_url, args.revision)
    else:
        db.check(settings.database_url)
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

    database = sub.add_parser("db", help="database schema (Alembic migrations)")
    database.add_argument("action", choices=["upgrade", "downgrade", "check"])
    database.add_argument("revision", nargs="?", default="head")
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
