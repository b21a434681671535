import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
except ImportError:  # the deployment side is tested without torch too
    torch = None

# Without a GPU, the Triton kernels (spiking_nr.fast_gpu) are tested through Triton's interpreter,
# which triton picks when it is first imported: set it before any test imports triton.
if torch is not None and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    has_cuda = torch is not None and torch.cuda.is_available()
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device (none here)"))
