"""The CLI runner's own logic, apart from any run."""

from shelfcast.pipeline.runner import consecutive_stretches


def test_missing_history_months_are_loaded_in_consecutive_stretches():
    months = ["2023-12", "2024-05", "2024-01", "2024-02", "2022-07"]
    assert consecutive_stretches(months) == [
        ["2022-07"],
        ["2023-12", "2024-01", "2024-02"],
        ["2024-05"],
    ]
    assert consecutive_stretches([]) == []
