"""Validate a frame against its pandera contract and fail with one readable message.

pandera's own error text is long and does not say which dataset or partition it concerns; the
message built here names the dataset, the partition, each failing column and check, how many rows
failed and a small sample of the failing values.
"""

from __future__ import annotations

import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa
from dagster import Failure, MetadataValue

SAMPLE_SIZE = 5


class ContractViolation(Failure):
    """A frame broke its schema contract: bad data, not a bug, so no traceback is needed."""


def validate_frame(
    frame: pd.DataFrame, contract: type[pa.DataFrameModel], dataset: str
) -> pd.DataFrame:
    """Return the coerced frame, or raise ContractViolation naming dataset, columns and checks."""
    try:
        return contract.validate(frame, lazy=True)
    except pa_errors.SchemaErrors as errors:
        message, failures = describe_schema_errors(errors, dataset, contract.__name__)
        raise ContractViolation(
            description=message,
            metadata={"failures": MetadataValue.md(failures.to_markdown(index=False))},
            allow_retries=False,
        ) from None


def describe_schema_errors(
    errors: pa_errors.SchemaErrors, dataset: str, contract_name: str
) -> tuple[str, pd.DataFrame]:
    """One line per (column, check) with the failing-row count and a sample of values."""
    cases = errors.failure_cases.copy()
    cases["column"] = cases["column"].fillna("<frame>").astype(str)
    cases["check"] = cases["check"].astype(str)
    summary = (
        cases.groupby(["column", "check"], sort=False)
        .agg(
            failing_rows=("failure_case", "size"),
            sample=("failure_case", lambda s: _sample(s)),
        )
        .reset_index()
    )
    lines = [f"{dataset} breaks its contract {contract_name}:"]
    for row in summary.itertuples(index=False):
        if row.check == "column_in_dataframe":
            lines.append(f"  - missing column {row.sample.strip('[]')!s}")
        elif row.check == "column_in_schema":
            lines.append(
                f"  - unexpected column {row.sample.strip('[]')!s} (the contract is strict)"
            )
        else:
            lines.append(
                f"  - column '{row.column}' fails check {row.check}: "
                f"{row.failing_rows} failing value(s), e.g. {row.sample}"
            )
    return "\n".join(lines), summary


def _sample(values: pd.Series) -> str:
    shown = [str(v) for v in values.head(SAMPLE_SIZE)]
    more = len(values) - len(shown)
    return "[" + ", ".join(shown) + (f", … {more} more" if more > 0 else "") + "]"
