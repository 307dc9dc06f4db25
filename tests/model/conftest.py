"""Model tests run tiny networks, for which intra-op threads only add synchronisation; on a shared, busy
machine two spinning OpenMP threads made them 10-70x slower than one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
