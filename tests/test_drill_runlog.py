"""While a drill runs, what libraries log goes to the run directory's hubchaos.log, not the
console: a driver's background task that cannot reach a killed member logs a traceback each
time it tries, which used to bury the drill's own lines."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chaos.drill.runlog import LOG, run_log


def test_library_errors_go_to_the_run_log_and_are_counted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    driver = logging.getLogger("pymongo.client")
    with run_log(tmp_path) as errors:
        try:
            raise OSError("connection closed")
        except OSError:
            driver.exception("MongoClient background task encountered an error:")
        logging.getLogger("locust.runners").info("Ramping to 4 users")
        logging.getLogger("locust.runners").debug("not kept")
    driver.error("after the drill")  # the run's log is closed with it
    _, err = capfd.readouterr()
    assert "background task" not in err and "Traceback" not in err
    assert errors.count == 1
    kept = (tmp_path / LOG).read_text()
    assert "ERROR pymongo.client: MongoClient background task encountered an error:" in kept
    assert "OSError: connection closed" in kept
    assert "INFO locust.runners: Ramping to 4 users" in kept and "not kept" not in kept
    assert "after the drill" not in kept


def test_a_log_that_cannot_be_written_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with run_log(tmp_path / "gone") as errors:  # its folder does not exist: every write fails
        logging.getLogger("pymongo.client").error("lost")
    assert errors.count == 1
    assert capfd.readouterr().err == ""
