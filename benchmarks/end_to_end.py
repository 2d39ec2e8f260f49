"""A partition at the cost of its own work: `shelfcast run` against the bare-core floor and 15a0abc.

For 1,000, 4,000 and 20,000 products of one market (2022-01 … 2024-12, demo generator, seed 7),
side by side in one run on this machine, in three rounds (this machine's speed varies by a
quarter from one minute to the next; medians of rounds, 15a0abc once):

- **shelfcast**: `shelfcast run --market US --month 2024-11` on an empty lake (cold: it loads the
  23 months of history first), then `--month 2024-12` (warm: the history is in the lake);
- **15a0abc**: the same two commands with the code of commit 15a0abc (a `git worktree` under
  benchmarks/.work, on the same interpreter and packages), so the speed-up is measured;
- **floor**: `benchmarks/_floor.py`, only `shelfcast.core` on frames read once from the landing
  Parquet, the same work for each month; its recommendations must equal the pipeline's.

Wall and CPU seconds of each command's process tree and the peak RSS of its largest process
(``wait4``). Linux carries a
process's peak RSS across fork and exec, so this script stays small: the landing data is
generated in a process of its own (a 20,000-product landing generated here made every later
command report at least this process's 4.3 GB). Then 4 markets × 3
months (1,000 products each) through one `shelfcast run`, with 2 worker processes against one,
after a first run that loaded the history. Results: benchmarks/results/end_to_end.json and the
`end_to_end` section of benchmarks/README.md. ``--sizes 1000`` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _sections import write_section  # noqa: E402

from shelfcast.core.demo_data import GeneratorSpec, generate  # noqa: E402
from shelfcast.platform.landing import write_drop  # noqa: E402
from shelfcast.platform.storage import as_upath  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / ".work" / "end_to_end"
RESULTS = REPO / "benchmarks" / "results" / "end_to_end.json"
BASE_COMMIT = "15a0abc"
COLD, WARM = "2024-11", "2024-12"


def generate_landing(root: Path, products: int, markets: list[str]) -> None:
    """The demo landing drops, written by a separate process (see the module docstring)."""
    subprocess.run(
        [sys.executable, __file__, "--generate", str(root), str(products), ",".join(markets)],
        check=True,
    )


def _generate(root: Path, products: int, markets: list[str]) -> None:
    spec = GeneratorSpec(first_month="2022-01", last_month="2024-12", seed=7).with_size(
        products=products, markets=markets
    )
    for drop in generate(spec):
        for dataset, frame in (("sales", drop.sales), ("products", drop.products)):
            folder = as_upath(root / dataset / f"market={drop.market}" / f"month={drop.month}")
            write_drop(folder, dataset, frame, "parquet")


def base_worktree() -> Path:
    target = WORK / f"base-{BASE_COMMIT}"
    if not target.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(target), BASE_COMMIT], cwd=REPO, check=True
        )
    return target


def measured(command: list[str], env: dict[str, str]) -> dict:
    """Wall and CPU seconds (user + system, the process tree) and peak RSS of one command.

    Run outside the repository: `python -c` puts its working directory first on sys.path, which
    would import this checkout's package instead of the one PYTHONPATH names.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 3),  # ru_maxrss is in KiB on Linux
    }


def environment(space: Path, landing: Path, code: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "SHELFCAST_LANDING": str(landing),
        "SHELFCAST_STORAGE": str(space / "lake"),
        "SHELFCAST_OUTBOX": str(space / "outbox"),
        "DAGSTER_HOME": str(space / "home"),
    }
    if code is not None:
        env["PYTHONPATH"] = str(code)
    (space / "home").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "configs" / "dagster" / "local.yaml", space / "home" / "dagster.yaml")
    return env


def pipeline(code: Path | None, env: dict, markets: list[str], months: list[str], workers=1):
    entry = "import sys; from shelfcast.cli import app; sys.argv[0] = 'shelfcast'; app()"
    command = [sys.executable, "-c", entry, "run"]
    for market in markets:
        command += ["--market", market]
    for month in months:
        command += ["--month", month]
    if code is None:
        command += ["--workers", str(workers)]
    return measured(command, env)


def recommendations(space: Path, market: str, month: str) -> pd.DataFrame:
    path = space / "lake" / "price_recommendations" / f"market={market}" / f"month={month}.parquet"
    return decisions(pd.read_parquet(path))


def decisions(frame: pd.DataFrame) -> pd.DataFrame:
    """Each product's recommended price and whether it changes, comparable across dtypes."""
    frame = frame.assign(product_id=frame["product_id"].astype(str))
    return frame.set_index("product_id").sort_index()[["recommended_price", "is_change"]]


def one_size(products: int, rounds: int = 3) -> dict:
    """Each size in ``rounds`` rounds (a fresh lake each: cold, then warm; the floor for both
    months), 15a0abc once; each figure the round of median wall time, with every round's wall
    seconds beside it and the largest peak RSS of any round."""
    root = WORK / f"p{products}"
    shutil.rmtree(root, ignore_errors=True)
    landing = root / "landing"
    generate_landing(landing, products, ["US"])
    row: dict = {"products": products, "rounds": rounds}
    found: dict[str, dict[str, list[dict]]] = {
        name: {"cold": [], "warm": []} for name in ("shelfcast", "floor")
    }
    for round_ in range(rounds):
        space = root / f"shelfcast-{round_}"
        env = environment(space, landing, None)
        found["shelfcast"]["cold"].append(pipeline(None, env, ["US"], [COLD]))
        found["shelfcast"]["warm"].append(pipeline(None, env, ["US"], [WARM]))
        env = environment(root / "floor", landing, None)
        for phase, month in (("cold", COLD), ("warm", WARM)):
            out = root / "floor" / f"{month}.parquet"
            command = [sys.executable, str(REPO / "benchmarks" / "_floor.py"), str(landing),
                       "US", month, str(out)]  # fmt: skip
            found["floor"][phase].append(measured(command, env))
            ours = recommendations(space, "US", month)
            floor = (
                pd.read_parquet(out)
                .set_index("product_id")
                .sort_index()[["recommended_price", "is_change"]]
            )
            assert floor.equals(ours), f"the floor and the pipeline disagree on {month}"
    for name, phases in found.items():
        row[name] = {phase: typical(runs) for phase, runs in phases.items()}
    base = environment(root / BASE_COMMIT, landing, base_worktree())
    row[BASE_COMMIT] = {
        "cold": pipeline(base_worktree(), base, ["US"], [COLD]),
        "warm": pipeline(base_worktree(), base, ["US"], [WARM]),
    }
    theirs = recommendations(root / BASE_COMMIT, "US", WARM)
    ours = recommendations(root / "shelfcast-0", "US", WARM)
    row["vs_base"] = {
        "flagged_base": len(theirs),
        "flagged_now": len(ours),
        "changes_base": int(theirs["is_change"].sum()),
        "changes_now": int(ours["is_change"].sum()),
    }
    for phase in ("cold", "warm"):
        row[f"{phase}_vs_floor"] = round(
            row["shelfcast"][phase]["wall_s"] / row["floor"][phase]["wall_s"], 2
        )
        row[f"{phase}_speedup_vs_base"] = round(
            row[BASE_COMMIT][phase]["wall_s"] / row["shelfcast"][phase]["wall_s"], 2
        )
    print(json.dumps(row), flush=True)
    return row


def typical(runs: list[dict]) -> dict:
    """The run of median wall time, every run's wall seconds, the largest peak RSS of any."""
    middle = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    return {
        **middle,
        "walls_s": [r["wall_s"] for r in runs],
        "peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
    }


def concurrency(rounds: int = 3) -> dict:
    """4 markets × 3 months, one worker against two, in ``rounds`` rounds that alternate which
    goes first; medians. Beside them, what this machine gives two independent processes: the
    floor of two markets one after the other, and side by side."""
    root = WORK / "markets"
    shutil.rmtree(root, ignore_errors=True)
    markets, months = ["US", "GB", "DE", "SE"], ["2024-09", "2024-10", "2024-11"]
    generate_landing(root / "landing", 1000, markets)
    env = environment(root / "space", root / "landing", None)
    first = pipeline(None, env, markets, months, workers=2)  # loads the history, warms the lake
    runs: dict[str, list[dict]] = {"one_at_a_time": [], "two_workers": []}
    floors: dict[str, list[float]] = {"one_after_another": [], "side_by_side": []}
    for round_ in range(rounds):
        order = [1, 2] if round_ % 2 == 0 else [2, 1]
        for workers in order:
            name = "one_at_a_time" if workers == 1 else "two_workers"
            runs[name].append(pipeline(None, env, markets, months, workers=workers))
        for parallel in (False, True) if round_ % 2 == 0 else (True, False):
            name = "side_by_side" if parallel else "one_after_another"
            floors[name].append(round(sum(floor_pair(root, env, parallel)), 2))
    median = {name: statistics.median(r["wall_s"] for r in found) for name, found in runs.items()}
    floor_median = {name: statistics.median(found) for name, found in floors.items()}
    result = {
        "partitions": len(markets) * len(months),
        "rounds": rounds,
        "first_run_with_history": first,
        **runs,
        "median_wall_s": median,
        "speedup": round(median["one_at_a_time"] / median["two_workers"], 2),
        "floor_two_markets_wall_s": floors,
        "machine_speedup": round(
            floor_median["one_after_another"] / floor_median["side_by_side"], 2
        ),
    }
    print(json.dumps(result), flush=True)
    return result


def floor_pair(root: Path, env: dict, parallel: bool) -> list[float]:
    """Wall seconds of the floor for US and GB 2024-11, one after the other or side by side
    (each process's own wall time)."""
    commands = [
        [sys.executable, str(REPO / "benchmarks" / "_floor.py"), str(root / "landing"), market,
         "2024-11", str(root / f"floor-{market}.parquet")]
        for market in ("US", "GB")
    ]  # fmt: skip
    if not parallel:
        return [measured(command, env)["wall_s"] for command in commands]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, env=env, cwd=WORK, stdout=subprocess.DEVNULL)
        for command in commands
    ]
    if any(process.wait() != 0 for process in processes):
        raise RuntimeError("the floor failed")
    return [round(time.perf_counter() - started, 2)]


def section(results: dict) -> str:
    lines = [
        "## End to end: a partition against the bare-core floor and 15a0abc (`end_to_end.py`)",
        "",
        f"One market, 2022-01 … 2024-12, cold = `shelfcast run --month {COLD}` on an empty lake "
        f"(loads 23 months of history), warm = `--month {WARM}` next. Wall seconds · CPU seconds "
        "· peak RSS (GB) of its largest process: the round of median wall time of "
        f"{results['sizes'][0].get('rounds', 1)} rounds (15a0abc: one), the largest RSS of any; "
        f"{results['machine']['cpus']} CPUs, load average {results['machine']['load_average_1m_at_start']} "
        f"at the start, {results['machine']['date']}.",
        "",
        "| products | phase | shelfcast | floor | 15a0abc | ÷ floor | speed-up vs 15a0abc |",
        "|---:|---|---|---|---|---:|---:|",
    ]

    def cell(m: dict) -> str:
        return f"{m['wall_s']:.1f} · {m['cpu_s']:.1f} · {m['peak_rss_gb']:.2f}"

    for row in results["sizes"]:
        for phase in ("cold", "warm"):
            lines.append(
                f"| {row['products']:,} | {phase} | {cell(row['shelfcast'][phase])} | "
                f"{cell(row['floor'][phase])} | {cell(row[BASE_COMMIT][phase])} | "
                f"{row[f'{phase}_vs_floor']:.2f}× | {row[f'{phase}_speedup_vs_base']:.2f}× |"
            )
    lines += ["", "Wall seconds of every round (shelfcast / floor):"]
    for row in results["sizes"]:
        for phase in ("cold", "warm"):
            ours, floor = (row[n][phase].get("walls_s", []) for n in ("shelfcast", "floor"))
            lines.append(
                f"- {row['products']:,} {phase}: {', '.join(f'{w:.1f}' for w in ours)} / "
                f"{', '.join(f'{w:.1f}' for w in floor)}"
            )
    c = results.get("concurrency")
    if c:

        def walls(name: str) -> str:
            return ", ".join(f"{r['wall_s']:.1f}" for r in c[name])

        lines += [
            "",
            f"4 markets × 3 months (1,000 products each, history loaded by a first run) through "
            f"one `shelfcast run`, {c['rounds']} rounds alternating which goes first: one at a "
            f"time {walls('one_at_a_time')} s, two worker processes {walls('two_workers')} s; "
            f"medians {c['median_wall_s']['one_at_a_time']:.1f} s and "
            f"{c['median_wall_s']['two_workers']:.1f} s: **{c['speedup']:.2f}×**. In the same "
            f"rounds two floor processes (US and GB) side by side took "
            f"{c['machine_speedup']:.2f}× less time than one after the other: what this machine "
            "gives two independent processes.",
        ]
    lines += [
        "",
        "Beyond the floor's work the pipeline runs Dagster (a run, its event log in SQLite, "
        "asset checks), resolves and freezes the parameters, validates every sales month it "
        "reads (once per run: the three window steps share one validated window, "
        "`shelfcast.platform.io_manager`) and every output it writes, draws the charts, and "
        "delivers to the outbox. Cold runs also load the 23 months of history through the "
        "`sales_history` job (clean, check, validate, write Parquet, the months on parallel "
        "threads); the partition run that follows in the same process gets those months from "
        "the validated cache, as the frames validated and written, instead of reading and "
        "validating them again (`shelfcast.platform.validated_cache`).",
        "",
        "Raw numbers, and how the recommendations compare with 15a0abc's: `results/end_to_end.json`.",
    ]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        root, products, markets = sys.argv[2:5]
        _generate(Path(root), int(products), markets.split(","))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,20000")
    parser.add_argument("--no-concurrency", action="store_true")
    args = parser.parse_args()
    from decision_quality import machine

    results: dict = {"machine": machine(), "sizes": []}
    for products in (int(s) for s in args.sizes.split(",")):
        results["sizes"].append(one_size(products))
    if not args.no_concurrency:
        results["concurrency"] = concurrency()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_section("end_to_end", section(results))


if __name__ == "__main__":
    main()
