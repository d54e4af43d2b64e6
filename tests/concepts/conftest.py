import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # the tests share the machine with long runs: one core, and fixed seeds so failures reproduce
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
