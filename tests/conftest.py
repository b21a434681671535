import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
except ImportError:  # the deployment side is tested without torch too
    torch = None


def pytest_collection_modifyitems(config, items):
    has_cuda = torch is not None and torch.cuda.is_available()
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (none here)"))
