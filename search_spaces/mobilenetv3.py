"""The MobileNetV3 macro space of Once-for-All (Cai et al., ICLR 2020).

The network is MobileNetV3-Large's skeleton (Howard et al., ICCV 2019): a 3x3 stem
convolution to 16 channels (batch-norm, h-swish), a fixed inverted-residual block
(3x3 depthwise, 16 channels, no expansion), five searchable stages, then the head:
1x1 convolution to 960 channels (batch-norm, h-swish), global average pooling, a
linear layer to 1280 features with h-swish, and the linear classifier.

======  =====  ============  ==============  ==========
stage   width  first stride  squeeze-excite  activation
======  =====  ============  ==============  ==========
1       24     2             no              ReLU
2       40     2             yes             ReLU
3       80     2             no              h-swish
4       112    1             yes             h-swish
5       160    2             yes             h-swish
======  =====  ============  ==============  ==========

A stage has 2, 3 or 4 inverted-residual layers (1x1 expansion, kxk depthwise,
optional squeeze-excite, 1x1 projection, batch-norm after every convolution, a
residual connection when stride is 1 and the channels match). Each layer chooses its
kernel size (3, 5, 7) and expansion ratio (3, 4, 6). ``width`` scales every channel
count (rounded to a multiple of 8).

Strides and resolution: at 224x224 the network is MobileNetV3-Large's, with five
stride-2 points (stem, stages 1, 2, 3, 5: total stride 32, a 7x7 last feature map).
For smaller images the earliest stride-2 points become stride 1, as many as needed
to keep the last feature map at least 4x4 (``MIN_FEATURE_SIZE``): 32x32 images keep
the reductions of stages 2, 3 and 5 (stem and stage 1 at stride 1, a 4x4 last map),
64x64 ones drop only the stem's, 8x8 ones keep only stage 5's. Images smaller than
4x4 are rejected. See ``reduction_strides``.

Training forms: the CIFAR form is this network with a dropout before the classifier;
the ImageNet form keeps MobileNetV3-Large's strides at any resolution (Once-for-All
trains and runs it at 128 to 224 pixels). Both default to Once-for-All's settings:
width 1.0, dropout 0.1 (``train_ofa_net.py`` of github.com/mit-han-lab/once-for-all).

Genome layout: 45 nominal genes, each an index in ``0..2`` into its choice tuple.

- genes 0-4: the depth of stages 1-5, indexing ``DEPTHS = (2, 3, 4)``;
- then, for stage s = 0..4 and layer l = 0..3, two genes: gene ``5 + 8*s + 2*l`` is
  the kernel size (``KERNELS = (3, 5, 7)``) and gene ``6 + 8*s + 2*l`` the expansion
  ratio (``EXPANSIONS = (3, 4, 6)``) of that layer.

Layers at or beyond their stage's depth are unused; their genes do not change the
network.

Architecture string: ``d=<5 depths>|k=<kernel sizes>|e=<expansion ratios>``, with the
kernel sizes and expansion ratios of the used layers only, stage by stage, e.g.
``d=2,2,2,2,2|k=3,5,7,3,5,7,3,5,7,3|e=6,4,3,6,4,3,6,4,3,6``. So the string is
canonical; ``from_string`` gives unused layers the genes 0 (kernel 3, expansion 3).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from monas.registry import SPACES
from search_spaces.base import ArchitectureError, InputSpec, SearchSpace

DEPTHS = (2, 3, 4)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
N_STAGES = 5
MAX_DEPTH = max(DEPTHS)
MIN_FEATURE_SIZE = 4
IMAGENET_RESOLUTION = 224


class StageConfig(NamedTuple):
    """A stage's fixed settings."""

    width: int  # output channels at width 1.0
    stride: int  # of its first layer, at full resolution
    se: bool  # squeeze-excite in every layer
    act: type[nn.Module]


STAGES = (
    StageConfig(24, 2, False, nn.ReLU),
    StageConfig(40, 2, True, nn.ReLU),
    StageConfig(80, 2, False, nn.Hardswish),
    StageConfig(112, 1, True, nn.Hardswish),
    StageConfig(160, 2, True, nn.Hardswish),
)
STEM_WIDTH = 16
HEAD_WIDTH = 960
FEATURE_WIDTH = 1280

_N_GENES = N_STAGES + N_STAGES * MAX_DEPTH * 2
_ARCH = re.compile(r"^d=([^|]*)\|k=([^|]*)\|e=([^|]*)$")
_INT = re.compile(r"^\s*\d+\s*$")


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor``, at least ``divisor`` and never
    more than 10 % below ``value`` (the MobileNet channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def reduction_strides(resolution: int) -> tuple[int, tuple[int, ...]]:
    """(stem stride, first-layer stride of each stage) for ``resolution``-sized images.

    MobileNetV3-Large's strides, with the earliest stride-2 points set to 1 until the
    last feature map is at least ``MIN_FEATURE_SIZE`` wide; ArchitectureError for
    images smaller than that.
    """
    if resolution < MIN_FEATURE_SIZE:
        raise ArchitectureError(
            f"the mobilenetv3 network needs an input resolution of at least {MIN_FEATURE_SIZE}, got {resolution}"
        )
    strides = [2] + [stage.stride for stage in STAGES]
    reductions = strides.count(2)
    kept, size = 0, resolution
    # A stride-2 convolution with padding k // 2 (k odd) maps n pixels to ceil(n / 2).
    while kept < reductions and -(-size // 2) >= MIN_FEATURE_SIZE:
        size = -(-size // 2)
        kept += 1
    to_drop = reductions - kept
    for i, stride in enumerate(strides):
        if to_drop and stride == 2:
            strides[i] = 1
            to_drop -= 1
    return strides[0], tuple(strides[1:])


class ConvBNAct(nn.Sequential):
    """Bias-free convolution with 'same' padding, batch-norm, optional activation."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = None
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel gating: pool, 1x1 conv to a quarter of the channels, ReLU, 1x1 conv
    back, hard sigmoid, multiply."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = make_divisible(channels / 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, mid, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(mid, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV3 block: 1x1 expansion (skipped for ratio 1), kxk depthwise, optional
    squeeze-excite, linear 1x1 projection; adds the input when shapes allow."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int, se: bool, act: type[nn.Module]
    ) -> None:
        super().__init__()
        hidden = make_divisible(c_in * expansion) if expansion != 1 else c_in
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(c_in, hidden, 1, act=act))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcite(hidden))
        layers.append(ConvBNAct(hidden, c_out, 1))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class MobileNetV3Network(nn.Module):
    """The network of one architecture: ``stages`` lists, per stage, the (kernel size,
    expansion ratio) of each of its layers. ``dropout`` applies to the features the
    classifier reads; ``strides`` (stem, per stage) default to ``reduction_strides`` of
    the input resolution."""

    def __init__(
        self,
        stages: list[list[tuple[int, int]]],
        spec: InputSpec,
        width: float = 1.0,
        dropout: float = 0.0,
        strides: tuple[int, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        stem_stride, stage_strides = strides or reduction_strides(spec.resolution)
        c = make_divisible(STEM_WIDTH * width)
        self.stem = ConvBNAct(spec.channels, c, 3, stem_stride, act=nn.Hardswish)
        self.first_block = InvertedResidual(c, c, 3, 1, 1, se=False, act=nn.ReLU)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        for config, stride, layers in zip(STAGES, stage_strides, stages):
            c_out = make_divisible(config.width * width)
            for i, (kernel, expansion) in enumerate(layers):
                blocks.append(InvertedResidual(c, c_out, kernel, expansion, stride if i == 0 else 1, config.se, config.act))
                c = c_out
            self.stage_ends.append(len(blocks) - 1)
        self.blocks = nn.Sequential(*blocks)
        c_head = make_divisible(HEAD_WIDTH * width)
        self.final_expand = ConvBNAct(c, c_head, 1, act=nn.Hardswish)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.num_features = make_divisible(FEATURE_WIDTH * width)
        # On pooled 1x1 maps MobileNetV3's 1x1 convolution is a linear layer; it keeps its
        # bias because no batch-norm follows.
        self.feature_mix = nn.Sequential(nn.Linear(c_head, self.num_features), nn.Hardswish())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.num_features, spec.num_classes)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of stages 1-4 and after the final 1x1 expansion."""
        maps = []
        x = self.first_block(self.stem(x))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends[:-1]:
                maps.append(x)
        return maps + [self.final_expand(x)]

    def forward_blocks(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output, then the output of the first block, of every inverted
        residual block and of the final 1x1 expansion."""
        maps = [self.stem(x)]
        for block in (self.first_block, *self.blocks, self.final_expand):
            maps.append(block(maps[-1]))
        return maps

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-wide (times ``width``) h-swish features before the classifier, shape
        (N, num_features)."""
        return self.feature_mix(self.global_pooling(self.forward_stages(x)[-1]).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


def _parse_ints(text: str, name: str) -> list[int]:
    items = text.split(",")
    if not all(_INT.match(item) for item in items):
        raise ArchitectureError(f"{name}= must be a comma-separated list of integers, got {text!r}")
    return [int(item) for item in items]


def _check_choices(values: list[int], choices: tuple[int, ...], what: str, where: list[str]) -> None:
    for value, place in zip(values, where):
        if value not in choices:
            known = ", ".join(map(str, choices))
            raise ArchitectureError(f"{what} {value} of {place} is not in the mobilenetv3 space (known: {known})")


def _check_size(width: float, dropout: float = 0.0) -> None:
    if not width > 0:
        raise ArchitectureError(f"width must be positive, got {width}")
    if not 0 <= dropout < 1:
        raise ArchitectureError(f"dropout must be in [0, 1), got {dropout}")


@SPACES.register("mobilenetv3")
class MobileNetV3Space(SearchSpace):
    """OFA's MobileNetV3 space: per stage a depth of 2-4, per layer a kernel size of
    3/5/7 and an expansion ratio of 3/4/6. ``width`` multiplies every channel count;
    below 1 it gives a cheaper proxy network."""

    name = "mobilenetv3"
    arch_format = "d=<5 stage depths>|k=<kernel per layer>|e=<expansion per layer>, e.g. d=2,2,2,2,2|k=3,5,...|e=3,6,..."
    training_forms = {"cifar": {"width": 1.0, "dropout": 0.1}, "imagenet": {"width": 1.0, "dropout": 0.1}}

    def __init__(self, width: float = 1.0) -> None:
        _check_size(width)
        self.width = width
        upper = np.full(_N_GENES, 2, dtype=np.int64)
        self._bounds = (np.zeros_like(upper), upper)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._bounds

    def stages(self, genome: np.ndarray) -> list[list[tuple[int, int]]]:
        """Per stage, the (kernel size, expansion ratio) of each used layer."""
        genome = self.validate_genome(genome)
        layers = genome[N_STAGES:].reshape(N_STAGES, MAX_DEPTH, 2)
        return [
            [(KERNELS[k], EXPANSIONS[e]) for k, e in layers[s, : DEPTHS[genome[s]]]]
            for s in range(N_STAGES)
        ]

    def to_string(self, genome: np.ndarray) -> str:
        stages = self.stages(genome)
        layers = [layer for stage in stages for layer in stage]
        depths = ",".join(str(len(stage)) for stage in stages)
        kernels = ",".join(str(k) for k, _ in layers)
        expansions = ",".join(str(e) for _, e in layers)
        return f"d={depths}|k={kernels}|e={expansions}"

    def from_string(self, arch: str) -> np.ndarray:
        match = _ARCH.match(arch.strip())
        if not match:
            raise ArchitectureError(f"not a mobilenetv3 architecture string (expected 'd=...|k=...|e=...'): {arch!r}")
        depths = _parse_ints(match[1], "d")
        kernels = _parse_ints(match[2], "k")
        expansions = _parse_ints(match[3], "e")
        if len(depths) != N_STAGES:
            raise ArchitectureError(f"d= lists {len(depths)} stage depths, the mobilenetv3 space has {N_STAGES} stages")
        _check_choices(depths, DEPTHS, "depth", [f"stage {s + 1}" for s in range(N_STAGES)])
        places = [f"stage {s + 1} layer {j + 1}" for s, d in enumerate(depths) for j in range(d)]
        for values, name in ((kernels, "k"), (expansions, "e")):
            if len(values) != len(places):
                raise ArchitectureError(f"{name}= lists {len(values)} layers, the depths {match[1]} make {len(places)}")
        _check_choices(kernels, KERNELS, "kernel size", places)
        _check_choices(expansions, EXPANSIONS, "expansion ratio", places)
        genome = np.zeros(_N_GENES, dtype=np.int64)
        genome[:N_STAGES] = [DEPTHS.index(d) for d in depths]
        layers = genome[N_STAGES:].reshape(N_STAGES, MAX_DEPTH, 2)  # a view: writes go to genome
        i = 0
        for s, depth in enumerate(depths):
            for j in range(depth):
                layers[s, j] = KERNELS.index(kernels[i]), EXPANSIONS.index(expansions[i])
                i += 1
        return genome

    def canonical(self, genome: np.ndarray) -> str:
        # The string lists only used layers, so it is already canonical.
        return self.to_string(genome)

    def reference_genomes(self) -> list[np.ndarray]:
        """Depth 4, kernel 7 and expansion 6 everywhere: each gene's largest index is its
        costliest choice, so this one network has the most MACs and parameters."""
        return [self.bounds[1].copy()]

    def build(self, arch: str, spec: InputSpec) -> nn.Module:
        return self.build_for_training(arch, spec, width=self.width, dropout=0.0)

    def training_network(self, arch: str, spec: InputSpec, form: str, auxiliary: bool, size: dict) -> nn.Module:
        _check_size(size["width"], size["dropout"])
        strides = reduction_strides(IMAGENET_RESOLUTION) if form == "imagenet" else None
        return MobileNetV3Network(self.stages(self.from_string(arch)), spec, size["width"], size["dropout"], strides)
