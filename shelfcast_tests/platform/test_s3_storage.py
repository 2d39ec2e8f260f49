"""Storage on a real S3 server (SeaweedFS): endpoint from the environment, credentials enforced,
store failures reported with endpoint and bucket, never half an object."""

import concurrent.futures

import boto3
import botocore.exceptions
import numpy as np
import pandas as pd
import pytest

from shelfcast.platform.landing import drop_files, write_drop
from shelfcast.platform.multipart import PART_BYTES
from shelfcast.platform.snapshots import create_exclusive
from shelfcast.platform.storage import (
    StorageError,
    as_upath,
    atomic_writer,
    read_parquet,
    write_bytes_atomic,
    write_parquet_atomic,
)
from shelfcast_tests.s3_server import forget_s3_clients

FRAME = pd.DataFrame(
    {
        "product_id": [1, 2, 3],
        "price": [9.99, 4.5, 12.0],
        "category": pd.Categorical(["toys", "food", "toys"]),
        "date": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"]),
    }
)


def large_frame() -> pd.DataFrame:
    """Random floats compress badly: about 2.5 parts of Parquet."""
    rng = np.random.default_rng(3)
    rows = PART_BYTES * 5 // 2 // 16
    return pd.DataFrame({"a": rng.random(rows), "b": rng.random(rows)})


def unfinished_uploads(server, bucket: str) -> list:
    return server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_the_endpoint_and_credentials_come_from_the_standard_aws_environment(s3_env, s3_server):
    # Nothing but AWS_ENDPOINT_URL and the AWS_* keys tells the storage layer where S3 is.
    path = as_upath(f"s3://{s3_env}/lake/frame.parquet")
    size = write_parquet_atomic(path, FRAME)
    assert s3_server.keys(s3_env) == {"lake/frame.parquet": size}
    pd.testing.assert_frame_equal(read_parquet(path), FRAME)


def test_the_server_refuses_a_wrong_secret_key(s3_env, s3_server):
    with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
        s3_server.client(secret_key="not-the-secret").list_objects_v2(Bucket=s3_env)


def test_a_wrong_secret_key_fails_with_endpoint_and_bucket_and_without_the_secret(
    s3_env, s3_server, monkeypatch
):
    wrong = "wrong-secret-0123456789"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    forget_s3_clients()
    with pytest.raises(StorageError) as raised:
        write_parquet_atomic(as_upath(f"s3://{s3_env}/lake/frame.parquet"), FRAME)
    message = str(raised.value)
    assert "access denied" in message
    assert s3_server.endpoint in message and f"bucket {s3_env}" in message
    assert wrong not in message and s3_server.secret_key not in message
    assert s3_server.keys(s3_env) == {}


def test_a_missing_bucket_is_named_and_never_created(s3_env, s3_server):
    path = as_upath("s3://no-such-bucket-here/lake/frame.parquet")
    with pytest.raises(StorageError, match="the bucket does not exist") as written:
        write_parquet_atomic(path, FRAME)
    with pytest.raises(StorageError, match="the bucket does not exist"):
        read_parquet(path)  # not a FileNotFoundError: never mistaken for a missing partition
    with pytest.raises(StorageError, match="the bucket does not exist"):
        drop_files(as_upath("s3://no-such-bucket-here/landing/sales/market=US/month=2024-03"))
    assert "bucket no-such-bucket-here" in str(written.value)
    assert s3_server.endpoint in str(written.value)
    assert not s3_server.bucket_exists("no-such-bucket-here")


def test_a_missing_object_in_an_existing_bucket_is_file_not_found(s3_env):
    with pytest.raises(FileNotFoundError):
        read_parquet(as_upath(f"s3://{s3_env}/lake/sales/market=US/month=2024-03.parquet"))


def test_a_drop_that_arrives_after_a_listing_is_seen_by_the_next_listing(s3_env):
    folder = as_upath(f"s3://{s3_env}/landing/sales/market=US/month=2024-03")
    assert drop_files(folder) == []
    write_drop(folder, "part-1", FRAME)
    assert [p.name for p in drop_files(folder)] == ["part-1.parquet"]
    boto3.client("s3").put_object(Bucket=s3_env, Key=f"{folder.path.split('/', 1)[1]}/part-2.csv")
    assert [p.name for p in drop_files(folder)] == ["part-1.parquet", "part-2.csv"]


@pytest.mark.slow
def test_a_stopped_server_fails_with_a_clear_message_and_leaves_no_object(s3_env, s3_server):
    path = as_upath(f"s3://{s3_env}/lake/frame.parquet")
    s3_server.stop()
    try:
        with pytest.raises(StorageError) as raised:
            write_parquet_atomic(path, FRAME)
    finally:
        s3_server.start()
    message = str(raised.value)
    assert "unreachable" in message
    assert s3_server.endpoint in message and f"bucket {s3_env}" in message
    assert s3_server.secret_key not in message
    assert s3_server.keys(s3_env) == {}
    write_parquet_atomic(path, FRAME)  # the same write succeeds once the server is back
    pd.testing.assert_frame_equal(read_parquet(path), FRAME)


def test_a_frame_larger_than_one_part_streams_into_one_multipart_object(s3_env, s3_server):
    frame = large_frame()
    path = as_upath(f"s3://{s3_env}/lake/large.parquet")
    size = write_parquet_atomic(path, frame)
    assert size > 2 * PART_BYTES
    assert s3_server.keys(s3_env) == {"lake/large.parquet": size}
    head = s3_server.client().head_object(Bucket=s3_env, Key="lake/large.parquet")
    assert head["ETag"].strip('"').endswith("-3")  # three parts, completed as one object
    assert unfinished_uploads(s3_server, s3_env) == []
    pd.testing.assert_frame_equal(read_parquet(path), frame)


def test_a_failure_while_streaming_aborts_the_upload_and_keeps_the_old_object(s3_env, s3_server):
    path = as_upath(f"s3://{s3_env}/lake/object.bin")
    write_bytes_atomic(path, b"the good version")
    with pytest.raises(ValueError, match="encoding failed"), atomic_writer(path) as handle:
        handle.write(b"x" * (2 * PART_BYTES + 1))  # two parts already sent
        raise ValueError("encoding failed")  # not a store failure: passed on unchanged
    assert s3_server.keys(s3_env) == {"lake/object.bin": len(b"the good version")}
    assert path.fs.cat_file(path.path) == b"the good version"
    assert unfinished_uploads(s3_server, s3_env) == []


@pytest.mark.slow
def test_a_server_lost_halfway_through_an_upload_fails_clearly_and_publishes_nothing(
    s3_env, s3_server
):
    path = as_upath(f"s3://{s3_env}/lake/large.parquet")
    try:
        with pytest.raises(StorageError) as raised, atomic_writer(path) as handle:
            handle.write(b"x" * (PART_BYTES + 1))  # the upload has begun
            s3_server.stop()
            handle.write(b"y" * (2 * PART_BYTES))
    finally:
        s3_server.start()
    message = str(raised.value)
    assert "unreachable" in message and s3_server.endpoint in message
    assert f"bucket {s3_env}" in message and s3_server.secret_key not in message
    assert s3_server.keys(s3_env) == {}  # the parts sent before the loss never became an object
    write_parquet_atomic(path, FRAME)
    pd.testing.assert_frame_equal(read_parquet(path), FRAME)


def test_of_steps_freezing_a_run_snapshot_together_exactly_one_writes_it(s3_env, s3_server):
    # A conditional PUT (If-None-Match), not a check-then-put: the store itself picks the winner.
    path = as_upath(f"s3://{s3_env}/lake/_runs/run-1/params/US/2024-03.json")
    contenders = [f'{{"step": {n}}}'.encode() for n in range(8)]
    with concurrent.futures.ThreadPoolExecutor(len(contenders)) as pool:
        won = list(pool.map(lambda data: create_exclusive(path, data), contenders))
    assert won.count(True) == 1
    assert path.fs.cat_file(path.path) == contenders[won.index(True)]
    assert create_exclusive(path, b"later") is False


def test_a_store_without_conditional_writes_still_gets_the_snapshot_once(
    s3_env, monkeypatch, caplog
):
    import botocore.exceptions
    from s3fs.errors import translate_boto_error

    path = as_upath(f"s3://{s3_env}/lake/_runs/run-2/params/US/2024-03.json")
    refusal = botocore.exceptions.ClientError(
        {"Error": {"Code": "NotImplemented"}, "ResponseMetadata": {"HTTPStatusCode": 501}},
        "PutObject",
    )
    real_pipe = path.fs.pipe_file

    def pipe_file(target, data, mode="overwrite", **kwargs):
        if mode == "create":  # what an S3 server without If-None-Match answers, as s3fs raises it
            raise translate_boto_error(refusal)
        return real_pipe(target, data, mode=mode, **kwargs)

    monkeypatch.setattr(path.fs, "pipe_file", pipe_file)
    assert create_exclusive(path, b"first") is True
    assert create_exclusive(path, b"second") is False
    assert path.fs.cat_file(path.path) == b"first"
    assert "refused a conditional PUT (HTTP 501)" in caplog.text
