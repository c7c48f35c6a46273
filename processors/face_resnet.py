"""dlib's face-recognition ResNet, read from its own model file and run on numpy's BLAS.

The identity stage embeds a few frames of every session with dlib's ResNet
(``dlib_face_recognition_resnet_model_v1.dat``). The prebuilt ``dlib-bin`` wheel is
compiled without BLAS, so its forward pass takes ~75 ms of CPU for a 150x150 chip, as
much as ten FaceMesh frames, and it sits on the path of every passing decision. The same
network, with the same weights, evaluated as matrix products on the BLAS that numpy ships
gives the same 128 numbers (to float rounding) several times faster.

The weights are read straight from the ``.dat`` file (dlib's serialisation: each layer
names its version, then its parameter tensor as little-endian float32), so nothing is
converted or stored beside the model. The graph is the one dlib's Python binding declares
for this file (``tools/python/src/face_recognition.cpp``): a 7x7 convolution, max pooling,
14 residual units (32, 64, 128, 256 channels; the first of each width halves the size,
its shortcut an average pool), a global average and a 128-output linear layer. The reader
checks every layer's shape and stride against that graph and refuses a file that differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

CHIP_SIZE_PX = 150  # the network's fixed input
# (width, halves the size) of each residual unit, from the input up.
RESIDUAL_UNITS = (
    *[(32, False)] * 3,
    (64, True),
    *[(64, False)] * 3,
    (128, True),
    *[(128, False)] * 2,
    (256, True),
    *[(256, False)] * 2,
    (256, True),
)
EMBEDDING_DIMENSIONS = 128


class ModelFormatError(ValueError):
    """The file is not the dlib face-recognition ResNet this module knows how to run."""


@dataclass(frozen=True)
class Convolution:
    """A convolution with the affine (frozen batch-norm) layer after it folded in."""

    weights: NDArray[np.float32]  # (filters, channels * rows * columns), for one matrix product
    bias: NDArray[np.float32]  # (filters, 1)
    size: int
    stride: int
    padding: int


class _Stream:
    """dlib's serialisation primitives over the bytes of a model file."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def integer(self) -> int:
        # A control byte (size in the low nibble, 0x80 for negative), then little-endian bytes.
        if self.at >= len(self.data):
            raise ModelFormatError(f"the file ends at byte {self.at}, inside a layer")
        control = self.data[self.at]
        size = control & 0x0F
        value = int.from_bytes(self.data[self.at + 1 : self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if control & 0x80 else value

    def text(self) -> str:
        length = self.integer()
        value = self.data[self.at : self.at + length].decode("ascii")
        self.at += length
        return value

    def tensor(self) -> NDArray[np.float32]:
        version = self.integer()
        if version != 2:
            raise ModelFormatError(f"tensor version {version} at byte {self.at}, expected 2")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.at + 4 * count > len(self.data):
            raise ModelFormatError(f"the file ends inside a tensor of {shape} at byte {self.at}")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.at)
        self.at += 4 * count
        return values.astype(np.float32).reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise ModelFormatError(f"alias tensor version at byte {self.at}, expected 1")
        return (self.integer(), self.integer(), self.integer(), self.integer())

    def seek_layer(self, version: str) -> bool:
        """Move to the next layer that names ``version`` (its name included); False at the end."""
        marker = bytes([1, len(version)]) + version.encode("ascii")
        found = self.data.find(marker, self.at)
        if found < 0:
            return False
        self.at = found
        if self.text() != version:
            raise ModelFormatError(f"misread layer name at byte {found}")
        return True


def _convolutions(stream: _Stream) -> list[tuple[NDArray[np.float32], NDArray[np.float32], int, int, int]]:
    """Every ``con_4`` layer in file order: weights, biases, size, stride, padding."""
    layers = []
    while stream.seek_layer("con_4"):
        params = stream.tensor().ravel()
        filters, rows, columns = stream.integer(), stream.integer(), stream.integer()
        stride_y, stride_x = stream.integer(), stream.integer()
        padding_y, padding_x = stream.integer(), stream.integer()
        shape = stream.alias_shape()
        if rows != columns or stride_y != stride_x or padding_y != padding_x or shape[0] != filters:
            raise ModelFormatError(f"unexpected convolution {shape} stride {stride_y}x{stride_x}")
        count = int(np.prod(shape))
        weights = params[:count].reshape(shape)
        layers.append((weights, params[count : count + filters], rows, stride_y, padding_y))
    return layers


def _affines(stream: _Stream) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Every ``affine_`` layer in file order: per-channel scale and shift."""
    layers = []
    while stream.seek_layer("affine_"):
        params = stream.tensor().ravel()
        channels = int(np.prod(stream.alias_shape()))
        layers.append((params[:channels], params[channels : 2 * channels]))
    return layers


def read_model(path: str | Path) -> tuple[list[Convolution], NDArray[np.float32], NDArray[np.float32]]:
    """The convolutions (affines folded in), the final linear layer (256x128) and the input means."""
    data = Path(path).read_bytes()
    stream = _Stream(data)
    if not stream.seek_layer("input_rgb_image_sized"):
        raise ModelFormatError(f"{path}: no input_rgb_image_sized layer; not dlib's face ResNet")
    means = np.array([_dlib_float(stream) for _ in range(3)], dtype=np.float32)
    convolutions = _convolutions(_Stream(data))
    affines = _affines(_Stream(data))
    expected = 1 + 2 * len(RESIDUAL_UNITS)
    if len(convolutions) != expected or len(affines) != expected:
        found = f"{len(convolutions)} convolutions and {len(affines)} affines"
        raise ModelFormatError(f"{found}, expected {expected} of each")
    folded = [_fold(conv, affine) for conv, affine in zip(convolutions, affines, strict=True)]
    _check_graph(folded)
    stream = _Stream(data)
    if not stream.seek_layer("fc_2"):
        raise ModelFormatError(f"{path}: no fc_2 layer")
    outputs, inputs = stream.integer(), stream.integer()
    linear = stream.tensor().ravel()[: inputs * outputs].reshape(inputs, outputs)
    if (inputs, outputs) != (RESIDUAL_UNITS[-1][0], EMBEDDING_DIMENSIONS):
        raise ModelFormatError(f"linear layer {inputs}x{outputs}, expected 256x{EMBEDDING_DIMENSIONS}")
    return folded, np.ascontiguousarray(linear.T), means


def _dlib_float(stream: _Stream) -> float:
    """dlib's portable float: an integer mantissa and a power-of-two exponent."""
    mantissa = stream.integer()
    exponent = stream.integer()
    return float(mantissa) * 2.0**exponent


def _fold(
    conv: tuple[NDArray[np.float32], NDArray[np.float32], int, int, int],
    affine: tuple[NDArray[np.float32], NDArray[np.float32]],
) -> Convolution:
    weights, bias, size, stride, padding = conv
    scale, shift = affine
    if scale.size != weights.shape[0]:
        raise ModelFormatError(f"affine of {scale.size} channels after {weights.shape[0]} filters")
    flat = weights.reshape(weights.shape[0], -1) * scale[:, None]
    return Convolution(
        np.ascontiguousarray(flat, dtype=np.float32),
        (bias * scale + shift).astype(np.float32)[:, None],
        size,
        stride,
        padding,
    )


def _check_graph(convolutions: list[Convolution]) -> None:
    first = convolutions[0]
    if (first.weights.shape[0], first.size, first.stride) != (32, 7, 2):
        raise ModelFormatError("the first convolution is not 32 filters of 7x7, stride 2")
    for index, (width, halves) in enumerate(RESIDUAL_UNITS):
        entry, inner = convolutions[1 + 2 * index], convolutions[2 + 2 * index]
        if entry.weights.shape[0] != width or inner.weights.shape[0] != width:
            raise ModelFormatError(f"residual unit {index}: not {width} filters")
        if entry.stride != (2 if halves else 1) or inner.stride != 1 or entry.size != 3 or inner.size != 3:
            raise ModelFormatError(f"residual unit {index}: unexpected strides or sizes")


def _convolve(x: NDArray[np.float32], conv: Convolution) -> NDArray[np.float32]:
    """(channels, rows, columns) -> (filters, rows', columns'), as dlib sizes it (floor)."""
    if conv.padding:
        p = conv.padding
        x = np.pad(x, ((0, 0), (p, p), (p, p)))
    windows = sliding_window_view(x, (1, conv.size, conv.size))[:, :: conv.stride, :: conv.stride, 0]
    channels, rows, columns = windows.shape[:3]
    # (channels, size, size) per output position, in the filters' memory order.
    patches = windows.transpose(0, 3, 4, 1, 2).reshape(channels * conv.size * conv.size, rows * columns)
    out = conv.weights @ patches
    out += conv.bias
    return out.reshape(-1, rows, columns)


def _pool(x: NDArray[np.float32], size: int, stride: int, reduce: str) -> NDArray[np.float32]:
    """Max or mean over ``size``x``size`` windows, no padding (dlib's pooling as this graph uses it)."""
    rows, columns = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
    shifted = [
        x[:, dy : dy + stride * (rows - 1) + 1 : stride, dx : dx + stride * (columns - 1) + 1 : stride]
        for dy in range(size)
        for dx in range(size)
    ]
    if reduce == "max":
        return np.maximum.reduce(shifted)
    total = np.add.reduce(shifted, dtype=np.float32)
    return total / np.float32(size * size)


def _add_top_left(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """dlib's add_prev: tensors of different shapes add as if zero-padded at the far ends."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out


class FaceResNet:
    """The 128-number face descriptor of a 150x150 RGB chip, equal to dlib's own."""

    def __init__(self, model_path: str | Path) -> None:
        self.convolutions, self.linear, self.means = read_model(model_path)

    def descriptor(self, chip_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The raw (unnormalised) descriptor, as ``compute_face_descriptor`` returns it."""
        if chip_rgb.shape != (CHIP_SIZE_PX, CHIP_SIZE_PX, 3):
            raise ValueError(f"a face chip is {CHIP_SIZE_PX}x{CHIP_SIZE_PX}x3, got {chip_rgb.shape}")
        x = (chip_rgb.astype(np.float32) - self.means).transpose(2, 0, 1) / np.float32(256)
        x = np.maximum(_convolve(np.ascontiguousarray(x), self.convolutions[0]), 0)
        x = _pool(x, 3, 2, "max")
        for index, (_, halves) in enumerate(RESIDUAL_UNITS):
            entry, inner = self.convolutions[1 + 2 * index], self.convolutions[2 + 2 * index]
            branch = _convolve(np.maximum(_convolve(x, entry), 0), inner)
            shortcut = _pool(x, 2, 2, "mean") if halves else x
            x = np.maximum(_add_top_left(branch, shortcut), 0)
        pooled = x.reshape(x.shape[0], -1).mean(axis=1, dtype=np.float32)
        return (self.linear @ pooled).astype(np.float32)
