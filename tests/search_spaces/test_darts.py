import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search_spaces import SPACES
from search_spaces.base import ArchitectureError, InputSpec
from search_spaces.darts import Genotype, parse_genotype
from search_spaces.darts.genotypes import DARTS_V2, PC_DARTS

SPACE = SPACES.create("darts", init_channels=4, layers=3)


def genomes():
    lower, upper = SPACE.bounds
    return st.tuples(*(st.integers(int(lo), int(hi)) for lo, hi in zip(lower, upper))).map(np.array)


def test_bounds_follow_block_positions():
    lower, upper = SPACE.bounds
    assert len(lower) == 2 * 4 * 4 and (lower == 0).all()
    cell = upper[:16].reshape(4, 4)
    assert (cell[:, 0] == 6).all() and (cell[:, 2] == 6).all()
    assert list(cell[:, 1]) == [1, 2, 3, 4] and list(cell[:, 3]) == [1, 2, 3, 4]


@settings(max_examples=200, deadline=None)
@given(genomes())
def test_genome_string_round_trip(genome):
    text = SPACE.to_string(genome)
    assert (SPACE.from_string(text) == genome).all()
    assert SPACE.to_string(SPACE.from_string(text)) == text
    assert parse_genotype(text) == SPACE.genotype(genome)


@settings(max_examples=100, deadline=None)
@given(genomes(), st.lists(st.booleans(), min_size=8, max_size=8))
def test_canonical_ignores_order_of_a_nodes_two_inputs(genome, swaps):
    swapped = genome.reshape(8, 2, 2).copy()
    for block, swap in enumerate(swaps):
        if swap:
            swapped[block] = swapped[block][::-1]
    assert SPACE.canonical(swapped.reshape(-1)) == SPACE.canonical(genome)
    canonical = SPACE.from_string(SPACE.canonical(genome))
    assert SPACE.canonical(canonical) == SPACE.canonical(genome)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genomes(), st.sampled_from([(3, 32), (1, 8)]))
def test_every_genome_builds_and_runs(genome, shape):
    channels, resolution = shape
    net = SPACE.build(SPACE.to_string(genome), InputSpec(channels, resolution, 7))
    with torch.no_grad():
        out = net(torch.randn(2, channels, resolution, resolution))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    assert net.forward_features(torch.randn(2, channels, resolution, resolution)).shape == (2, net.num_features)


@pytest.mark.parametrize("published", [DARTS_V2, PC_DARTS])
def test_published_genotypes_decode_exactly(published):
    genotype = parse_genotype(published)
    genome = SPACE.from_string(published)
    assert SPACE.genotype(genome) == genotype
    assert parse_genotype(SPACE.to_string(genome)) == genotype


def test_published_network_has_the_published_size():
    # DARTS (second order) reports 3.3M parameters for its CIFAR-10 network of 20 cells,
    # 36 initial channels, counting without the auxiliary head.
    net = SPACES.create("darts", init_channels=36, layers=20).build(DARTS_V2, InputSpec(3, 32, 10))
    params = sum(p.numel() for p in net.parameters())
    assert 3.2e6 < params < 3.4e6


@pytest.mark.parametrize(
    "text, message",
    [
        ("Genotype(normal=[", "not a Genotype string"),
        ("print('hi')", "not a Genotype string"),
        (DARTS_V2.replace("sep_conv_3x3", "sep_conv_7x7", 1), "not in the darts space"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 6)"), "does not precede it"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"), "concatenates every node"),
        (DARTS_V2.replace(", ('skip_connect', 0), ('dil_conv_3x3', 2)]", "]"), "has 3 nodes"),
        (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=__import__('os')"), "not a literal"),
        ("Genotype(normal=[], normal_concat=[])", "lacks"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=5"), "must list node numbers"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range('a')"), "invalid range"),
        (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(1, 2, 0)"), "invalid range"),
    ],
)
def test_malformed_strings_are_rejected_with_a_reason(text, message):
    with pytest.raises(ArchitectureError, match=message):
        SPACE.from_string(text)


def test_out_of_bounds_genome_is_rejected():
    genome = SPACE.bounds[1].copy()
    genome[1] += 1
    with pytest.raises(ArchitectureError, match="gene 1"):
        SPACE.to_string(genome)


def test_resolution_not_divisible_by_four_is_rejected():
    with pytest.raises(ArchitectureError, match="divisible by 4"):
        SPACE.build(DARTS_V2, InputSpec(3, 30, 10))


def test_genotype_is_the_darts_namedtuple():
    assert Genotype._fields == ("normal", "normal_concat", "reduce", "reduce_concat")
