"""The landing sensor requests exactly the partition of each new or changed sales drop, once."""

import pandas as pd
from dagster import build_sensor_context

from shelfcast.definitions import defs
from shelfcast.pipeline.resources import LandingZone, Locations
from shelfcast.pipeline.sensors import landing_drops_sensor
from shelfcast.platform.landing import write_drop
from shelfcast.platform.storage import as_upath

SALES = pd.DataFrame({"product_id": ["A"], "date": ["2024-03-01"], "units": [3], "price": [2.5]})


class Landing:
    """A landing zone and the sensor's cursor, evaluated tick after tick."""

    def __init__(self, url: str):
        self.url = url
        self.cursor: str | None = None

    def drop(self, dataset: str, market: str, month: str, frame=SALES, name: str = "part-1"):
        folder = as_upath(self.url) / dataset / f"market={market}" / f"month={month}"
        write_drop(folder, name, frame)

    def tick(self) -> list:
        with build_sensor_context(
            cursor=self.cursor,
            definitions=defs,
            resources={
                "landing": LandingZone(deployment=Locations(landing=self.url)),
            },
        ) as context:
            result = landing_drops_sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result.run_requests or []


def assert_sensor_follows_drops(landing: Landing) -> None:
    assert landing.tick() == []

    landing.drop("sales", "US", "2024-03")
    [request] = landing.tick()
    assert request.partition_key == "US|2024-03-01"
    assert request.tags["dagster/partition/market"] == "US"
    assert request.tags["dagster/partition/month"] == "2024-03-01"
    assert request.run_key.startswith("sales/market=US/month=2024-03@")

    assert landing.tick() == []  # evaluating again requests nothing

    landing.drop("sales", "US", "2024-03", SALES.assign(units=4))  # re-delivered: new version
    [again] = landing.tick()
    assert again.partition_key == "US|2024-03-01" and again.run_key != request.run_key
    assert landing.tick() == []

    landing.drop("products", "GB", "2024-03")  # not watched
    landing.drop("sales", "XX", "2024-03")  # not a configured market
    landing.drop("sales", "GB", "2024-02", name="_SUCCESS")  # a marker, not data
    assert landing.tick() == []

    landing.drop("sales", "GB", "2024-02")
    landing.drop("sales", "US", "2024-02")
    assert sorted(r.partition_key for r in landing.tick()) == ["GB|2024-02-01", "US|2024-02-01"]


def test_on_s3_each_new_or_changed_drop_requests_its_partition_once(s3_env):
    assert_sensor_follows_drops(Landing(f"s3://{s3_env}/landing"))


def test_on_a_local_folder_each_new_or_changed_drop_requests_its_partition_once(tmp_path):
    assert_sensor_follows_drops(Landing(str(tmp_path / "landing")))


def test_the_sensor_and_its_landing_resource_are_in_the_code_location():
    sensor = defs.resolve_sensor_def("landing_drops_sensor")
    assert sensor.job_name == "monthly_pricing"
    assert sensor.required_resource_keys == {"landing"}
