"""The `shelfcast` command line: generate demo data, run partitions, show parameters."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from shelfcast.partner_api.cli import partner_app

app = typer.Typer(
    help="Monthly price recommendations for underperforming retail products.", no_args_is_help=True
)
data_app = typer.Typer(help="Landing-zone data.", no_args_is_help=True)
config_app = typer.Typer(help="Layered parameters.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(partner_app, name="partner")
console = Console()
err = Console(stderr=True, soft_wrap=True)

Patch = Annotated[
    list[str] | None,
    typer.Option(
        "--patch",
        "-p",
        help="Parameter patch KEY=VALUE (repeatable), e.g. optimiser.max_changes=10",
    ),
]
PatchFile = Annotated[
    str, typer.Option("--patch-file", help="YAML file of patches (path or fsspec URL)")
]


def _deployment():
    """Where this deployment keeps things, as the code location resolves it."""
    from shelfcast.definitions import deployment

    return deployment


def _fail(message: str, code: int = 1) -> typer.Exit:
    """One message, secrets masked, no traceback; exit status 1 (2 for a usage error)."""
    from shelfcast.platform.secrets import redact

    err.print(f"[bold red]error:[/] {redact(message)}", highlight=False, markup=False)
    return typer.Exit(code=code)


def _usage(message: str) -> typer.Exit:
    return _fail(message, code=2)


@data_app.command("generate")
def data_generate(
    landing: Annotated[
        str | None, typer.Option(help="Folder or URL; default $SHELFCAST_LANDING")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    products: Annotated[
        int | None, typer.Option(help="Products per market (default: each market's own size)")
    ] = None,
    markets: Annotated[str | None, typer.Option(help="Comma-separated markets, e.g. US,GB")] = None,
    first_month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    last_month: Annotated[str | None, typer.Option(help="YYYY-MM")] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Write deterministic demo drops for every market and month to the landing zone."""
    from shelfcast.core.demo_data import GeneratorSpec, generate
    from shelfcast.platform.landing import write_drop
    from shelfcast.platform.storage import StorageError, as_upath

    if file_format not in ("parquet", "csv"):
        raise _fail(f"--format {file_format!r}: use parquet or csv")
    spec = GeneratorSpec(seed=seed).with_size(
        products=products,
        markets=markets.split(",") if markets else None,
        first_month=first_month,
        last_month=last_month,
    )
    root = as_upath(landing or _deployment().landing_url())
    drops = 0
    with console.status("generating drops") as status:
        for drop in generate(spec):
            for dataset, frame in (("sales", drop.sales), ("products", drop.products)):
                folder = root / dataset / f"market={drop.market}" / f"month={drop.month}"
                try:
                    write_drop(folder, dataset, frame, file_format)
                except StorageError as error:
                    raise _fail(f"{error} ({drops} market-month drops written before)") from None
            drops += 1
            status.update(f"generating drops: {drop.market} {drop.month}")
    console.print(f"wrote {drops} market-month drops ({file_format}) to {root}")


@app.command("run")
def run(
    market: Annotated[
        list[str] | None, typer.Option("--market", "-m", help="Market (repeatable)")
    ] = None,
    month: Annotated[
        list[str] | None, typer.Option("--month", help="Month YYYY-MM (repeatable)")
    ] = None,
    patch: Patch = None,
    patch_file: PatchFile = "",
    replay: Annotated[
        str,
        typer.Option(
            help="Re-run with saved parameters: a run id, or a partition such as US|2024-03"
        ),
    ] = "",
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Partitions run at once, each in its own process (default: the CPUs)"
        ),
    ] = os.cpu_count() or 1,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit",
            help="Queue the runs on the deployment ($SHELFCAST_UI_URL, $DAGSTER_HOME) for its "
            "daemon instead of running them here",
        ),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="With --submit: wait for the runs and report them")
    ] = False,
) -> None:
    """Materialize every asset for each market × month given (or replay a past run)."""
    from shelfcast.errors import UserError
    from shelfcast.pipeline import runner

    if replay and (market or month or patch or patch_file):
        raise _usage("--replay runs with saved parameters: give no --market, --month or --patch")
    if not replay and (not market or not month):
        raise _usage("give --market and --month (each repeatable), or --replay")
    if wait and not submit:
        raise _usage("--wait goes with --submit (in-process runs always finish before the end)")
    if submit and patch_file and "://" not in patch_file:
        raise _usage(
            f"--submit: the runs read --patch-file where they execute, not here; put "
            f"{patch_file} in object storage and give its URL (s3://…), or use --patch"
        )
    if submit:
        _submit(
            replay=replay, market=market or [], month=month or [], patch=patch or [],
            patch_file=patch_file, wait=wait,
        )  # fmt: skip
        return
    try:
        with RunProgress(console) as progress:
            if replay:
                outcomes = runner.replay(replay, console, workers, progress.step)
            else:
                outcomes = runner.run_partitions(
                    market or [], month or [], patch or [], console, patch_file, workers,
                    progress.step,
                )  # fmt: skip
    except UserError as error:
        raise _fail(str(error)) from None
    _print_outcomes(outcomes)
    if any(not o.success for o in outcomes):
        for outcome in outcomes:
            if not outcome.success:
                err.print(
                    f"{outcome.partition} failed: {outcome.error}", highlight=False, markup=False
                )
        raise typer.Exit(code=1)


def _submit(
    replay: str, market: list[str], month: list[str], patch: list[str], patch_file: str, wait: bool
) -> None:
    """`shelfcast run --submit`: the runs go to the deployment's queue (shelfcast.pipeline.submit)."""
    from shelfcast.errors import UserError
    from shelfcast.pipeline import runner
    from shelfcast.pipeline.submit import submit_targets

    try:
        targets = (
            runner.replay_targets(replay)
            if replay
            else runner.partition_targets(market, month, patch, patch_file)
        )
        runs = submit_targets(targets, console, wait=wait)
    except UserError as error:
        raise _fail(str(error)) from None
    if not wait:
        console.print(
            f"{len(targets)} partition runs queued; the daemon launches them (links above)"
        )
        return
    for run in runs:
        state = "[green]ok[/]" if run.success else f"[red]{run.status.value.lower()}[/]"
        console.print(f"{run.partition}: {state}  {run.link()}", highlight=False, soft_wrap=True)
    if any(not run.success for run in runs):
        raise typer.Exit(code=1)


@app.command("demo")
def demo(
    markets: Annotated[str, typer.Option(help="Comma-separated markets")] = "US,GB",
    months: Annotated[
        str, typer.Option(help="Comma-separated months (default: the last two closed months)")
    ] = "",
) -> None:
    """Generate the demo data if absent, run the pipeline on a few partitions, summarise."""
    from shelfcast.core.demo_data import recent_months
    from shelfcast.platform.landing import drop_files
    from shelfcast.platform.storage import StorageError

    deployment = _deployment()
    landing = deployment.landing_zone()
    # The newest months: the default demo data end at the last closed month.
    market_list = markets.split(",")
    month_list = months.split(",") if months else recent_months(2)
    try:
        drops = drop_files(
            landing / "sales" / f"market={market_list[0]}" / f"month={month_list[-1]}"
        )
    except StorageError as error:
        raise _fail(str(error)) from None
    if not drops:
        data_generate(
            landing=None,
            file_format="parquet",
            products=None,
            markets=None,
            first_month=None,
            last_month=None,
            seed=7,
        )
    run(market=market_list, month=month_list, patch=None)
    console.print(
        f"\nlake:    {deployment.storage_url()}\noutbox:  {deployment.outbox_url()}\n"
        f"runs:    {os.environ.get('DAGSTER_HOME', '(ephemeral instance)')}\n"
        "UI:      make dev, then open http://127.0.0.1:3000"
    )


@config_app.command("show")
def config_show(
    market: Annotated[str, typer.Option("--market", "-m")],
    month: Annotated[str, typer.Option("--month")],
    patch: Patch = None,
    patch_file: PatchFile = "",
    provenance: Annotated[bool, typer.Option(help="Show the layer that set each value")] = False,
) -> None:
    """Print the effective parameters of a partition."""
    from shelfcast.errors import UserError
    from shelfcast.pipeline.runner import resolve_params

    try:
        resolved = resolve_params(market, month, patch or [], patch_file)
    except UserError as error:
        raise _fail(str(error)) from None
    if not provenance:
        console.print(resolved.as_yaml(), end="", highlight=False, markup=False)
        return
    print("layers, lowest first:\n" + "\n".join(f"  {layer}" for layer in resolved.layers) + "\n")
    rows = [(key, repr(resolved.get(key)), layer) for key, layer in resolved.provenance.items()]
    widths = [max(len(row[i]) for row in rows + [("parameter", "value", "layer")]) for i in (0, 1)]
    for key, value, layer in [("parameter", "value", "layer"), *rows]:
        print(f"{key:<{widths[0]}}  {value:<{widths[1]}}  {layer}")


class RunProgress:
    """A live line per partition with the step it is at (rich), for runs of more than a moment;
    on a console that is not a terminal, one line per step start instead."""

    def __init__(self, target: Console):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = target
        self.live = target.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[partition]:<12} {task.description}"),
            TimeElapsedColumn(),
            console=target,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.progress.stop()

    def step(self, partition: str, step: str) -> None:
        if not self.live:
            self.console.print(f"{partition}: {step}", highlight=False, markup=False)
            return
        if partition not in self.tasks:
            self.tasks[partition] = self.progress.add_task(step, partition=partition, total=None)
        self.progress.update(self.tasks[partition], description=step)


def _ui_url() -> str:
    """Where the Dagster UI of this instance is served (`make dev`): SHELFCAST_UI_URL."""
    return os.environ.get("SHELFCAST_UI_URL", "http://127.0.0.1:3000").rstrip("/")


def _money(value, market: str) -> str:
    from shelfcast.pipeline.partitions import versioned_defaults

    if value is None or value == "-":
        return "-"
    currency = versioned_defaults()["markets"].get(market, {}).get("currency", "")
    return f"{value:,.0f} {currency}".strip()


def _print_outcomes(outcomes) -> None:
    table = Table(
        caption="flagged: underperformers; uplift: expected margin gain, in the market's currency"
    )
    table.add_column("partition", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for numeric in ("products", "flagged", "changes", "uplift", "seconds"):
        table.add_column(numeric, justify="right", no_wrap=True)
    for o in outcomes:
        table.add_row(
            o.partition,
            "[green]ok[/]" if o.success else "[red]failed[/]",
            *(
                str(v)
                for v in (
                    o.summary.get("products", "-"),
                    o.summary.get("underperforming", "-"),
                    o.summary.get("price_changes", "-"),
                    _money(o.summary.get("margin_uplift"), o.partition.split(" ")[0]),
                    f"{o.seconds:.1f}",
                )
            ),
        )
    console.print(table)
    # Runs on an ephemeral instance (no $DAGSTER_HOME) are in no UI: their ids only.
    ui = _ui_url() if os.environ.get("DAGSTER_HOME") else ""
    for o in outcomes:
        if o.run_id:
            link = f"  {ui}/runs/{o.run_id}" if ui else ""
            console.print(f"{o.partition}: run {o.run_id}{link}", highlight=False, soft_wrap=True)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
