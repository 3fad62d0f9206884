"""The ``punchclock`` command: serve, migrate, seed demo data, manage users and tokens.

Every command that touches the database opens one :class:`store.db.Database`, runs its
work with ``asyncio.run`` and disposes it. Expected failures (bad input, unknown e-mail,
a bad URL, an unreachable database) print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from gql.settings import Settings
from store import accounts, demo, tokens
from store.db import Database, is_sqlite
from store.demo import DemoResult
from store.errors import DomainError
from store.models import OverlapPolicy, Role, TokenScope
from store.timeutil import utcnow, utcnow_precise

T = TypeVar("T")
EXIT_ERROR = 2
Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A failure to report in one line."""


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "database_url", None):
        return Settings(database_url=args.database_url)
    return Settings()


def _run(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _migrate(url: str) -> None:
    # Imported here: only the commands that migrate need alembic.
    from store.migrate import upgrade

    asyncio.run(upgrade(url))


def _print_demo(result: DemoResult) -> None:
    print(f"Seeded the demo team {result.team_id}: {result.entries} entries, one timer running.")
    _print_tokens(result)


def _print_tokens(result: DemoResult) -> None:
    print("Access tokens (send as 'Authorization: Bearer <token>'):")
    for user in result.users:
        print(f"  {user.role:<6}  {user.nickname:<13} {user.email:<27} token: {user.token}")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gql.server import httpguard, shutdown

    settings = _settings(args)
    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    url = settings.database_url
    if is_sqlite(url):
        _migrate(url)
    if args.demo:

        async def seed(db: Database) -> tuple[DemoResult | None, bool]:
            async with db.read() as session:
                if not await demo.has_any_team(session):
                    return await demo.seed_demo(db, now=utcnow()), True
            return await demo.new_demo_tokens(db), False

        result, seeded = _run(url, seed)
        if result is None:
            print(
                "The database has teams and no demo team: not seeding the demo. Create a "
                "token with `punchclock token create --email <a user's e-mail>`."
            )
        elif seeded:
            _print_demo(result)
        else:
            print(f"The demo team {result.team_id} is there already: a new token for each user.")
            _print_tokens(result)
    # Workers are separate processes that build their settings from the environment.
    os.environ["PUNCHCLOCK_DATABASE_URL"] = url
    os.environ["PUNCHCLOCK_HOST"], os.environ["PUNCHCLOCK_PORT"] = host, str(port)
    print(f"Serving Punchclock. GraphiQL: http://{host}:{port}/graphql", flush=True)
    config = uvicorn.Config(
        "gql.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=None,  # the app's factory sends every logger through gql.server.logs
        # Deflating tiny JSON frames costs CPU per subscriber and saves next to nothing.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        http=httpguard.PROTOCOL,  # slow or endless request headers are cut off
        ws_max_size=settings.max_body_bytes,  # a WebSocket message is bounded like a body
    )
    shutdown.serve_forever(config)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    _migrate(_settings(args).database_url)
    print("The database is at the newest schema.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    url = _settings(args).database_url
    if is_sqlite(url):
        _migrate(url)
    try:
        result = _run(url, lambda db: demo.seed_demo(db, now=utcnow()))
    except demo.DemoExists as exc:
        raise CommandError(str(exc)) from exc
    _print_demo(result)
    return 0


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as session:
        user = await accounts.user_by_email(session, email=email)
    if user is None:
        raise CommandError(f"No user with the e-mail {email!r}.")
    return user.id


def cmd_user_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        async with db.write() as session:
            user = await accounts.create_user(
                session,
                nickname=args.nickname,
                email=args.email,
                time_zone=args.time_zone,
                locale=args.locale,
            )
            await session.commit()
            return user.id

    print(_run(_settings(args).database_url, work))
    return 0


def cmd_team_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        owner_id = await _user_id(db, args.owner_email)
        async with db.write() as session:
            team = await accounts.create_team(
                session,
                name=args.name,
                owner_id=owner_id,
                time_zone=args.time_zone,
                week_start=args.week_start,
                overlap_policy=args.overlap_policy,
            )
            await session.commit()
            return team.id

    print(_run(_settings(args).database_url, work))
    return 0


def cmd_member_add(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        user_id = await _user_id(db, args.email)
        async with db.write() as session:
            member = await accounts.add_member(
                session,
                team_id=args.team_id,
                user_id=user_id,
                role=args.role,
                rate_cents=args.rate_cents,
            )
            await session.commit()
            return f"{args.email} is {member.role} of team {member.team_id}."

    print(_run(_settings(args).database_url, work))
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        user_id = await _user_id(db, args.email)
        async with db.write() as session:
            # Operators are held to no lifetime bound or token count, only to the future.
            tokens.check_expiry(
                args.expires, now=utcnow_precise(), field=("--expires",), maximum=None
            )
            token = await tokens.create_token(
                session,
                user_id=user_id,
                name=args.name,
                scope=args.scope,
                expires_at=args.expires,
            )
            await session.commit()
            return token

    # Only the token on stdout, so that scripts can capture it.
    print(_run(_settings(args).database_url, work))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    # The whole token, or its public part `pc_<prefix12>` (what logs and people may hold).
    given = args.token.strip()
    parsed = tokens.parse_token(given)
    prefix = parsed[0] if parsed else given.removeprefix("pc_")
    if not (len(prefix) == 12 and prefix.isascii() and prefix.isalnum()):
        raise CommandError(
            "Not a token: give the whole token or its first part, pc_<12 characters>."
        )

    async def work(db: Database) -> bool:
        async with db.write() as session:
            revoked = await tokens.revoke_token(session, prefix=prefix, at=utcnow())
            await session.commit()
            return revoked

    if not _run(_settings(args).database_url, work):
        raise CommandError(f"No active token pc_{prefix}: unknown, or revoked already.")
    # HTTP refuses it from the next request; subscriptions get no event after this one
    # (gql.live.revocations), and idle WebSockets close within 5 seconds.
    print(f"Revoked pc_{prefix}.")
    return 0


def cmd_export_schema(_args: argparse.Namespace) -> int:
    from gql.schema.build import export_sdl

    sys.stdout.write(export_sdl())
    return 0


_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _expiry(text: str) -> datetime:
    """``--expires``: a duration from now (``90d``, ``12h``, ``30m``) or an ISO 8601
    instant with its offset (``2027-06-30T18:00:00+02:00``)."""
    match = _DURATION.fullmatch(text.strip())
    if match is not None:
        return utcnow() + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise argparse.ArgumentTypeError(
            "give a duration such as 90d, 12h or 30m, or an ISO 8601 instant with its offset"
        )
    return instant.astimezone(UTC)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    run: Command,
    *,
    database: bool = True,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=summary)
    parser.set_defaults(run=run)
    if database:
        parser.add_argument(
            "--database-url",
            metavar="URL",
            help="database to use, overriding PUNCHCLOCK_DATABASE_URL "
            "(sqlite:///path or postgresql://user@host/db)",
        )
    return parser


def _add_group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    group = commands.add_parser(name, help=summary, description=summary)
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="punchclock",
        description="Punchclock, a GraphQL API server for time tracking. Settings come from "
        "PUNCHCLOCK_* environment variables and .env; options override them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _add_command(
        commands, "serve", "Run the API server (migrating a SQLite database first).", cmd_serve
    )
    serve.add_argument("--host", help="address to bind (default: PUNCHCLOCK_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PUNCHCLOCK_PORT or 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed demo data first if the database has no team, and print access tokens",
    )
    serve.add_argument(
        "--workers", type=_positive, default=1, help="number of worker processes (default: 1)"
    )

    _add_command(commands, "migrate", "Upgrade the database to the newest schema.", cmd_migrate)
    _add_command(
        commands,
        "demo",
        "Seed a demo team (3 users, 30 tasks, ~2,000 entries) and print access tokens.",
        cmd_demo,
    )

    users = _add_group(commands, "user", "Manage users.")
    create_user = _add_command(users, "create", "Create a user; prints its id.", cmd_user_create)
    create_user.add_argument("--nickname", required=True, help="the name others see")
    create_user.add_argument("--email", required=True, help="e-mail address (unique)")
    create_user.add_argument(
        "--time-zone", default="UTC", help="IANA time zone, e.g. Europe/Berlin (default: UTC)"
    )
    create_user.add_argument("--locale", default="en", help="locale, e.g. de-DE (default: en)")

    teams = _add_group(commands, "team", "Manage teams.")
    create_team = _add_command(teams, "create", "Create a team; prints its id.", cmd_team_create)
    create_team.add_argument("--name", required=True, help="the team's name")
    create_team.add_argument(
        "--owner-email", required=True, help="e-mail of the existing user who owns the team"
    )
    create_team.add_argument(
        "--time-zone",
        default="UTC",
        help="IANA time zone that decides work dates, e.g. Europe/Berlin (default: UTC)",
    )
    create_team.add_argument(
        "--week-start",
        type=int,
        default=1,
        choices=range(1, 8),
        metavar="1..7",
        help="first day of the week, 1 (Monday) to 7 (Sunday) (default: 1)",
    )
    create_team.add_argument(
        "--overlap-policy",
        default=OverlapPolicy.ALLOW.value,
        choices=[p.value for p in OverlapPolicy],
        help="what a write that overlaps the user's own entries meets (default: ALLOW)",
    )

    members = _add_group(commands, "member", "Manage team memberships.")
    add_member = _add_command(
        members, "add", "Add a user to a team, or change their role and rate.", cmd_member_add
    )
    add_member.add_argument("--team-id", required=True, help="the team's id")
    add_member.add_argument("--email", required=True, help="e-mail of the existing user")
    add_member.add_argument(
        "--role",
        default=Role.MEMBER.value,
        choices=[role.value for role in Role],
        help="role in the team (default: MEMBER)",
    )
    add_member.add_argument(
        "--rate-cents",
        type=int,
        help="the member's hourly rate in cents; overrides category and team rates",
    )

    token_commands = _add_group(commands, "token", "Manage personal access tokens.")
    create_token = _add_command(
        token_commands,
        "create",
        "Create an access token and print it (only the token, and only this once).",
        cmd_token_create,
    )
    create_token.add_argument("--email", required=True, help="e-mail of the token's user")
    create_token.add_argument("--name", default="", help="a label for the token, e.g. laptop")
    create_token.add_argument(
        "--scope",
        choices=[s.value for s in TokenScope],
        default=TokenScope.WRITE.value,
        help="READ: queries and subscriptions only; WRITE (default): mutations too",
    )
    create_token.add_argument(
        "--expires",
        type=_expiry,
        default=None,
        help="when it stops working: 90d, 12h, 30m from now, or an ISO 8601 instant with "
        "offset (default: never)",
    )
    revoke_token = _add_command(
        token_commands,
        "revoke",
        "Revoke an access token: HTTP and subscriptions refuse it at once.",
        cmd_token_revoke,
    )
    revoke_token.add_argument("token", help="the whole token, or its first part pc_<12 characters>")

    _add_command(
        commands,
        "export-schema",
        "Print the GraphQL schema (SDL), as committed in schema.graphql.",
        cmd_export_schema,
        database=False,
    )
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "bad setting: " + "; ".join(
            f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors()
        )
    text = str(exc).strip()
    if isinstance(exc, SQLAlchemyError):
        # Drop the SQL and the "Background on this error" link that follow the message.
        text = text.splitlines()[0] if text else ""
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            text += " (run `punchclock migrate` first)"
    return " ".join(text.split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except (DomainError, CommandError) as exc:
        message = _one_line(exc)
    except ValueError as exc:  # a bad URL or setting (pydantic's errors are ValueErrors)
        message = _one_line(exc)
    except (SQLAlchemyError, OSError) as exc:  # no schema, unreachable or unwritable database
        message = f"database error: {_one_line(exc)}"
    print(f"punchclock: {message}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
