"""The `listeners` fixture: one set of real services for a test module (in_process.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.in_process import Listeners

from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack


@pytest.fixture(scope="module")
def listeners(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Listeners]:
    world = Listeners(kore, slack, tmp_path_factory.mktemp("listeners"))
    yield world
    world.close()
