"""`shelfcast partner serve`: run the partner API in the foreground on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

partner_app = typer.Typer(
    help="A partner price API to deliver to (demos, tests).", no_args_is_help=True
)
err = Console(stderr=True)


@partner_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port (0: any free port)")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    db: Annotated[
        Path | None, typer.Option(help="SQLite file of stored batches; default data/partner/")
    ] = None,
    token_env: Annotated[
        str, typer.Option(help="Environment variable that holds the bearer token")
    ] = "PARTNER_API_TOKEN",
    quiet: Annotated[bool, typer.Option(help="Do not log each request")] = False,
) -> None:
    """Serve POST /batches with token check, contract validation, idempotency and faults."""
    from shelfcast.partner_api.server import PartnerServer

    token = os.environ.get(token_env, "").strip()
    if not token:
        err.print(
            f"[bold red]error:[/] set the environment variable {token_env} to the token "
            "clients must send (or name another one with --token-env)",
            highlight=False,
        )
        raise typer.Exit(code=1)
    path = db or Path("data", "partner", "partner.sqlite3")
    path.parent.mkdir(parents=True, exist_ok=True)
    server = PartnerServer(path, token, host=host, port=port, log_requests=not quiet)
    # The token is never printed: only where it is read from.
    err.print(
        f"partner API on {server.batches_url} (token from ${token_env}), batches in {path}; "
        "Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    # SIGTERM (a supervisor stopping it, a test's terminate()) stops it as Ctrl-C does: the
    # store is closed, whatever the disposition the process inherited (an ignored SIGTERM is
    # inherited across exec, and a server that ignores it never stops).
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
