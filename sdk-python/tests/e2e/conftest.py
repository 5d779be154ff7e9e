"""Real-engine fixtures. Needs MATCHLOCK_BIN, MATCHLOCK_HOME, MATCHLOCK_TEST_IMAGE and
MATCHLOCK_TEST_LAUNCH (a JSON argv prefix that records traffic)."""

import json
import os
import threading
from typing import Iterator, List

import pytest

import matchlock

REQUIRED = ("MATCHLOCK_BIN", "MATCHLOCK_HOME", "MATCHLOCK_TEST_IMAGE", "MATCHLOCK_TEST_LAUNCH")
missing = [name for name in REQUIRED if not os.environ.get(name)]
if missing:
    raise pytest.UsageError(f"e2e tests need {', '.join(missing)} in the environment")

BIN = os.environ["MATCHLOCK_BIN"]
IMAGE = os.environ["MATCHLOCK_TEST_IMAGE"]
LAUNCH: List[str] = json.loads(os.environ["MATCHLOCK_TEST_LAUNCH"])


def recorded_config() -> matchlock.Config:
    """Engine started through the recording launch prefix (traffic checked against the schema)."""
    return matchlock.Config(launch_command=LAUNCH + [BIN, "rpc"])


def direct_config() -> matchlock.Config:
    return matchlock.Config(binary_path=BIN)


class EventLog:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: List[matchlock.VFSHookEvent] = []

    def add(self, event: matchlock.VFSHookEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, path: str, timeout: float = 30) -> matchlock.VFSHookEvent:
        with self.cond:
            found = self.cond.wait_for(lambda: [e for e in self.events if e.path == path], timeout)
            assert found, f"no hook event for {path}; saw {[e.path for e in self.events]}"
            return found[0]


@pytest.fixture(scope="module")
def hook_events() -> EventLog:
    return EventLog()


@pytest.fixture(scope="module")
def sandbox(hook_events: EventLog) -> Iterator[matchlock.Client]:
    """One sandbox per module: interception on (allow-list methods), a before-phase block
    rule, and an after-hook feeding ``hook_events``."""
    vfs = matchlock.VFSInterceptionConfig(
        rules=[
            matchlock.VFSHookRule(name="deny", phase="before", ops=["create"], path="/workspace/blocked*", action="block"),
            matchlock.VFSHookRule(name="audit", phase="after", ops=["write"], path="/workspace/*", hook=hook_events.add),
        ]
    )
    spec = matchlock.Sandbox(IMAGE).with_network_interception().with_vfs_interception(vfs).with_env("GREETING", "hello")
    with matchlock.Client(recorded_config()) as client:
        client.launch(spec)
        yield client
