import json
import os
import sys
from typing import Iterator, List

import pytest

import matchlock

FAKE = os.path.join(os.path.dirname(__file__), "fake_engine.py")


class Recorded:
    def __init__(self, path: str) -> None:
        self.path = path

    def lines(self) -> List[dict]:
        with open(self.path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def requests(self, method: str) -> List[dict]:
        return [m for m in self.lines() if m["method"] == method]


@pytest.fixture
def record(tmp_path, monkeypatch) -> Recorded:
    path = str(tmp_path / "record.jsonl")
    open(path, "w").close()
    monkeypatch.setenv("FAKE_ENGINE_RECORD", path)
    return Recorded(path)


@pytest.fixture
def fake_config() -> matchlock.Config:
    return matchlock.Config(launch_command=[sys.executable, FAKE])


@pytest.fixture
def client(record, fake_config) -> Iterator[matchlock.Client]:
    with matchlock.Client(fake_config) as c:
        yield c
