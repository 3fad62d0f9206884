"""The ``punchclock`` command: serve, migrate, seed demo data, manage users and tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from store import accounts, tokens
from store.db import Database, is_sqlite
from store.errors import DomainError
from store.models import Role
from store.timeutil import utcnow

T = TypeVar("T")


class CommandError(Exception):
    """A failure to report in one line (exit status 2)."""


def _settings(args: argparse.Namespace) -> Any:
    from gql.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings(**overrides)


async def _migrate(url: str) -> None:
    from store.migrate import upgrade

    await upgrade(url)


async def _with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    db = Database(url)
    try:
        return await work(db)
    finally:
        await db.dispose()


def _print_demo(result: Any, base_url: str | None) -> None:
    print(f"Demo team {result.team_id}: {result.entries} entries, one timer running.")
    for user in result.users:
        print(f"  {user.role:<6} {user.nickname:<14} {user.email:<28} token: {user.token}")
    if base_url:
        print(f"GraphiQL: {base_url}/graphql  (header: Authorization: Bearer <token>)")
        print(f"Live dashboard: {base_url}/dashboard")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    host, port = args.host or settings.host, args.port or settings.port
    url = settings.database_url
    if is_sqlite(url):
        asyncio.run(_migrate(url))
    if args.demo:
        from store import demo

        async def seed(db: Database) -> Any:
            async with db.read() as s:
                if await demo.has_any_team(s):
                    return None
            return await demo.seed_demo(db, now=utcnow())

        result = asyncio.run(_with_db(url, seed))
        if result is None:
            print("The database has teams already: not seeding demo data.")
        else:
            _print_demo(result, f"http://{host}:{port}")
    # Workers are separate processes: they read the settings from the environment.
    os.environ["PUNCHCLOCK_DATABASE_URL"] = url
    os.environ["PUNCHCLOCK_HOST"], os.environ["PUNCHCLOCK_PORT"] = host, str(port)
    print(f"Serving on http://{host}:{port}/graphql", flush=True)
    uvicorn.run(
        "gql.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level=settings.log_level,
        # Deflating tiny JSON frames costs CPU per subscriber and saves next to nothing.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    url = _settings(args).database_url
    asyncio.run(_migrate(url))
    print("Database is at the newest schema.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from store import demo

    url = _settings(args).database_url
    if is_sqlite(url):
        asyncio.run(_migrate(url))
    try:
        result = asyncio.run(_with_db(url, lambda db: demo.seed_demo(db, now=utcnow())))
    except demo.DemoExists as exc:
        raise CommandError(str(exc)) from exc
    _print_demo(result, None)
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        async with db.write() as s:
            user = await accounts.create_user(
                s,
                nickname=args.nickname,
                email=args.email,
                time_zone=args.time_zone,
                locale=args.locale,
            )
            await s.commit()
            return user.id

    print(asyncio.run(_with_db(_settings(args).database_url, work)))
    return 0


async def _user_id(db: Database, email: str) -> str:
    async with db.read() as s:
        user = await accounts.user_by_email(s, email=email)
    if user is None:
        raise CommandError(f"no user with e-mail {email!r}")
    return user.id


def cmd_team_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        owner = await _user_id(db, args.owner_email)
        async with db.write() as s:
            team = await accounts.create_team(
                s,
                name=args.name,
                owner_id=owner,
                time_zone=args.time_zone,
                week_start=args.week_start,
            )
            await s.commit()
            return team.id

    print(asyncio.run(_with_db(_settings(args).database_url, work)))
    return 0


def cmd_member_add(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        user = await _user_id(db, args.email)
        async with db.write() as s:
            member = await accounts.add_member(
                s, team_id=args.team_id, user_id=user, role=args.role, rate_cents=args.rate_cents
            )
            await s.commit()
            return f"{member.user_id} is {member.role} of {member.team_id}"

    print(asyncio.run(_with_db(_settings(args).database_url, work)))
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    async def work(db: Database) -> str:
        user = await _user_id(db, args.email)
        async with db.write() as s:
            token = await tokens.create_token(s, user_id=user, name=args.name)
            await s.commit()
            return token

    print(asyncio.run(_with_db(_settings(args).database_url, work)))
    return 0


def cmd_export_schema(_args: argparse.Namespace) -> int:
    from gql.schema import export_sdl

    sys.stdout.write(export_sdl())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="punchclock",
        description="Punchclock: a GraphQL API server for time tracking. Settings come from "
        "PUNCHCLOCK_* environment variables (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        parent: Any, name: str, help: str, run: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        sub.add_argument(
            "--database-url",
            help="overrides PUNCHCLOCK_DATABASE_URL (sqlite:///… or postgresql://…)",
        )
        return sub

    serve = command(commands, "serve", "Run the API server (migrates SQLite first).", cmd_serve)
    serve.add_argument("--host", help="address to bind (default PUNCHCLOCK_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PUNCHCLOCK_PORT or 8000)")
    serve.add_argument(
        "--demo", action="store_true", help="seed demo data into an empty database and print tokens"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1; see the README on sizing)",
    )
    command(
        commands, "migrate", "Upgrade the configured database to the newest schema.", cmd_migrate
    )
    command(
        commands,
        "demo",
        "Seed demo data (a team, 3 users, ~2,000 entries) and print tokens.",
        cmd_demo,
    )

    user = commands.add_parser("user", help="Manage users.", description="Manage users.")
    user_commands = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_user = command(user_commands, "create", "Create a user; prints its id.", cmd_user_create)
    create_user.add_argument("--nickname", required=True)
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--time-zone", default="UTC", help="IANA name (default UTC)")
    create_user.add_argument("--locale", default="en")

    team = commands.add_parser("team", help="Manage teams.", description="Manage teams.")
    team_commands = team.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_team = command(team_commands, "create", "Create a team; prints its id.", cmd_team_create)
    create_team.add_argument("--name", required=True)
    create_team.add_argument("--owner-email", required=True, help="the owner's e-mail")
    create_team.add_argument("--time-zone", default="UTC", help="IANA name (default UTC)")
    create_team.add_argument("--week-start", type=int, default=1, help="1 (Monday) to 7 (Sunday)")

    member = commands.add_parser(
        "member", help="Manage memberships.", description="Manage memberships."
    )
    member_commands = member.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = command(
        member_commands, "add", "Add a user to a team (or change the role).", cmd_member_add
    )
    add.add_argument("--team-id", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--role", default=Role.MEMBER.value, choices=[r.value for r in Role])
    add.add_argument("--rate-cents", type=int, help="the member's hourly rate in cents")

    token = commands.add_parser(
        "token", help="Manage access tokens.", description="Manage access tokens."
    )
    token_commands = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create_token = command(
        token_commands,
        "create",
        "Create a personal access token; prints it once.",
        cmd_token_create,
    )
    create_token.add_argument("--email", required=True, help="the token's user")
    create_token.add_argument("--name", default="", help="a label for the token")

    export = commands.add_parser(
        "export-schema",
        help="Print the GraphQL SDL (schema.graphql).",
        description="Print the GraphQL SDL (schema.graphql).",
    )
    export.set_defaults(run=cmd_export_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except DomainError as exc:
        print(f"punchclock: {exc.message}", file=sys.stderr)
    except CommandError as exc:
        print(f"punchclock: {exc}", file=sys.stderr)
    except ValueError as exc:  # e.g. an unsupported database URL
        print(f"punchclock: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
