"""Dataset readers (numpy only)."""

from spiking_nr.data.mnist import ImageSplit, load_mnist_5k

__all__ = ["ImageSplit", "load_mnist_5k"]
