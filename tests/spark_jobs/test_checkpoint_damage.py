"""A damaged checkpoint stops the stream before it starts, naming the file and what to do: real checkpoints
of a short stream run, damaged the ways an operator or a full disk damages them."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from deltalake import DeltaTable

from readiness_platform.checkpoint import CheckpointDamagedError, verify_checkpoint
from readiness_platform.domain.errors import ReadinessError
from readiness_platform.settings import get_settings
from tests.spark_jobs.stream_helpers import pitch_line, run_to_end, write_files

pytestmark = pytest.mark.spark


def batches(folder: Path) -> list[int]:
    return sorted(int(f.name) for f in folder.iterdir() if f.name.isdigit())


def remove(checkpoint: Path, *names: str) -> None:
    for name in names:
        file = checkpoint / name
        file.unlink()
        file.with_name(f".{file.name}.crc").unlink()  # Hadoop's checksum beside it


def rewrite(checkpoint: Path, name: str, text: str, keep_crc: bool = False) -> None:
    file = checkpoint / name
    file.write_text(text)
    if not keep_crc:
        file.with_name(f".{file.name}.crc").unlink()


@pytest.fixture(scope="module")
def checkpoint(spark, tmp_path_factory) -> Path:
    """The checkpoint of a real run: four landing files, one micro-batch each, all committed."""
    settings = get_settings(home=tmp_path_factory.mktemp("ran"))
    write_files(settings.landing, [[pitch_line(n, 30 * n)] for n in range(1, 5)])
    run_to_end(spark, settings)
    return Path(settings.checkpoints) / "stream"


@pytest.fixture
def damaged(checkpoint, tmp_path) -> Path:
    """A copy of the run's checkpoint, to damage."""
    return Path(shutil.copytree(checkpoint, tmp_path / "stream"))


def test_a_whole_checkpoint_and_a_new_one_pass(spark, checkpoint, tmp_path):
    assert batches(checkpoint / "offsets") == batches(checkpoint / "commits") == [0, 1, 2, 3, 4]
    verify_checkpoint(spark, str(checkpoint))
    verify_checkpoint(spark, str(tmp_path / "not-made-yet"))


def test_a_batch_planned_and_not_committed_passes(spark, damaged):
    """The state a crash leaves: offsets/N written, commits/N not (here N plans no new file)."""
    remove(damaged, "commits/4")
    verify_checkpoint(spark, str(damaged))


def _latest_offsets(damaged: Path) -> str:
    return (damaged / "offsets/4").read_text()


@pytest.mark.parametrize(
    ("damage", "file", "says"),
    [
        (lambda c: remove(c, "commits/3", "commits/4"), "commits/3",
         "is missing while offsets/4 is there: Spark plans a batch only once the one before it is committed"),
        (lambda c: remove(c, "commits/2", "commits/3", "commits/4"), "commits/3", "is missing while offsets/4"),
        (lambda c: remove(c, "offsets/4"), "offsets/4", "is missing while commits/4 says the batch was committed"),
        (lambda c: [remove(c, f"offsets/{n}") for n in range(5)], "offsets/4", "every offsets file"),
        (lambda c: remove(c, "offsets/3", "commits/4"), "offsets/3", "is missing: a restart reads it"),
        (lambda c: rewrite(c, "offsets/4", "garbage\n"), "offsets/4", "is not an offsets file Spark wrote"),
        (lambda c: rewrite(c, "offsets/3", "v1\n{\"batchWatermarkMs\": 1}\n"), "offsets/3", "is not an offsets file"),
        (lambda c: rewrite(c, "offsets/4", _latest_offsets(c).replace('{"logOffset":3}', '{"logOff', 1)), "offsets/4",
         "holds a source offset Spark cannot read"),
        # written over without its checksum: Hadoop refuses to read it
        (lambda c: rewrite(c, "offsets/4", "garbage\n", keep_crc=True), "offsets/4", "cannot be read (org.apache.hadoop.fs.ChecksumException"),
        (lambda c: rewrite(c, "commits/4", "v1\nnot json\n"), "commits/4", "is not a commit file Spark wrote"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_the_file(spark, damaged, damage, file, says):
    damage(damaged)
    with pytest.raises(CheckpointDamagedError) as err:
        verify_checkpoint(spark, str(damaged))
    assert isinstance(err.value, ReadinessError)
    assert err.value.path == f"{damaged}/{file}"
    message = str(err.value)
    assert message.startswith(f"{damaged}/{file}: ") and says in message, message
    assert "new checkpoint" in message and "backup" in message  # what to do


def test_a_batch_to_run_again_over_archived_files_stops_the_stream_and_the_named_fix_works(spark, settings):
    """The issue's case: offsets/N, commits/N and commits/N-1 gone. Spark would run batch N-1 again, but its
    file was archived when offsets/N was planned: it read "0 in". The stream refuses to start instead, naming
    the file; moving it back from the archive, as the error says, runs the batch again with its row, and
    the writers skip what Delta holds. Ten files: the file source's list of batch 9 is in its compact log."""
    from spark_jobs.stream.main import start_stream

    write_files(settings.landing, [[pitch_line(n, 30 * n)] for n in range(1, 11)])
    run_to_end(spark, settings)
    checkpoint = Path(settings.checkpoints) / "stream"
    assert batches(checkpoint / "offsets") == list(range(11))  # 10: no new file, moves the watermark
    assert (checkpoint / "sources/0/9.compact").exists() and not (checkpoint / "sources/0/9").exists()
    remove(checkpoint, "offsets/10", "commits/10", "commits/9")

    with pytest.raises(CheckpointDamagedError, match=r"is gone, and batch 9 must run again .*sources/0/9.compact lists") as err:
        start_stream(spark, settings, available_now=True)
    assert not spark.streams.active
    gone = Path(err.value.path.removeprefix("file:"))
    assert gone.parent == settings.landing and not gone.exists()
    assert "Move the batch's files back from the landing folder's archive" in str(err.value)
    archived = Path(f"{settings.landing}.archive") / gone.relative_to("/")
    assert json.loads(archived.read_text())["pitch_number"] == 10

    archived.rename(gone)
    query = start_stream(spark, settings.model_copy(update={"max_files_per_trigger": 1}), available_now=True)
    try:
        query.awaitTermination(600)
        assert query.exception() is None
        again = [p for p in query.recentProgress if p["batchId"] == 9]
    finally:
        query.stop()
    assert again and again[0]["numInputRows"] == 1  # not "0 in"
    bronze = DeltaTable(settings.tables.pitches).to_pyarrow_table().to_pylist()
    assert Counter(p["pitch_number"] for p in bronze) == {n: 1 for n in range(1, 11)}
    assert batches(checkpoint / "commits")[-1] == 10
