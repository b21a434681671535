import pytest

from experiments.sanity_mnist import main


@pytest.mark.slow
def test_alif_srnn_learns_real_mnist_quick():
    result = main(["--quick"])
    # three epochs on 2048 real digits: far above the 10% chance level, but not a full run
    assert result["test_accuracy"] > 0.3
    assert result["test_accuracy"] > result["test_accuracy_before"] + 0.15
