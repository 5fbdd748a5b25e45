"""`revlens serve`, `revlens token` and `revlens user`: the server and who may use it."""

from __future__ import annotations

from typing import Annotated

import typer

from revlens.api import credentials
from revlens.api.credentials import Role
from revlens.cli.app import FormatOption, app, console, open_warehouse, print_rows, state
from revlens.cli.commands_kpi import CatalogOption
from revlens.cli.output import OutputFormat
from revlens.errors import RevlensError

RoleOption = Annotated[Role, typer.Option(help="viewer: read everything; admin: also write.")]

token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users: create, list, delete.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")


@token_app.command("create")
def token_create(
    role: RoleOption = Role.viewer,
    name: Annotated[str | None, typer.Option(help="A name to tell tokens apart.")] = None,
) -> None:
    """Create a token; it is printed once, on the last line, and stored only as a hash."""
    with open_warehouse() as wh:
        token_id, token = credentials.create_token(wh, role, name)
    console.print(
        f"created {role.value} token {token_id}; keep it now, it is not shown again:",
        highlight=False,
    )
    print(token)


@token_app.command("list")
def token_list(format: FormatOption = OutputFormat.table) -> None:
    """Every token's id, name, role, creation and revocation (never the token)."""
    with open_warehouse(read_only=True) as wh:
        rows = credentials.list_tokens(wh)
    print_rows(
        rows,
        format,
        columns=["token_id", "name", "role", "created_at", "revoked_at"],
        title="tokens",
    )


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="Token id or name (see `revlens token list`).")],
) -> None:
    """Revoke a token: API calls and dashboard sessions made with it stop at once."""
    with open_warehouse() as wh:
        n = credentials.revoke_token(wh, token)
    console.print(f"revoked {n} token(s)" if n else "already revoked", highlight=False)


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="User name for the dashboard login.")],
    role: RoleOption = Role.viewer,
    password: Annotated[
        str | None,
        typer.Option(help="The password (default: asked for, not echoed).", show_default=False),
    ] = None,
) -> None:
    """Create a dashboard user (or set a new password and role for an existing one)."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_warehouse() as wh:
        credentials.create_user(wh, name, password, role)
    console.print(f"user {name} ({role.value}) can log in to the dashboard", highlight=False)


@user_app.command("list")
def user_list(format: FormatOption = OutputFormat.table) -> None:
    """Dashboard users and their roles."""
    with open_warehouse(read_only=True) as wh:
        rows = credentials.list_users(wh)
    print_rows(rows, format, columns=["name", "role", "created_at"], title="users")


@user_app.command("delete")
def user_delete(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Delete a user; their sessions end at once."""
    with open_warehouse() as wh:
        credentials.delete_user(wh, name)
    console.print(f"deleted user {name}", highlight=False)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the server to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    catalog: CatalogOption = None,
    session_hours: Annotated[float, typer.Option(help="How long a dashboard login lasts.")] = 8,
    secure_cookies: Annotated[
        bool, typer.Option(help="Mark cookies Secure (when served over HTTPS by a proxy).")
    ] = False,
) -> None:
    """Serve the JSON API and the dashboard (API docs at /docs)."""
    import uvicorn

    from revlens.api.app import ServerConfig, create_app

    if not 0 < port < 65536:
        raise RevlensError(
            "--port must be 1-65535", value=port, code="RL035", fix="e.g. --port 8000"
        )
    config = ServerConfig(
        warehouse=state.warehouse,
        catalog=catalog,
        session_max_age=int(session_hours * 3600),
        secure_cookies=secure_cookies,
    )
    server_app = create_app(config)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"warning: listening on {host}: reachable from the network", style="yellow")
    console.print(
        f"revlens at http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port} "
        "(API docs at /docs); Ctrl-C stops it",
        highlight=False,
    )
    uvicorn.run(server_app, host=host, port=port, log_level="warning")
