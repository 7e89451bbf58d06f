"""Architecture: the paper's parameter counts, shortcut options, pairing, zero-init identity, depth limits."""

import pytest
import torch

from resnet_core import ExperimentConfig, build_model, build_pair
from resnet_core.models import Block, IdentityShortcut, ProjectionShortcut, ZeroPadShortcut

PAPER_COUNTS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962, 1202: 19_421_274}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", sorted(PAPER_COUNTS))
def test_cifar_resnet_parameter_counts_match_the_paper(depth):
    config = ExperimentConfig(depth=depth, width=16)
    assert n_params(build_model(config, "residual", (3, 32, 32), 10)) == PAPER_COUNTS[depth]
    assert n_params(build_model(config.replace(shortcut="B"), "residual", (3, 32, 32), 10)) == PAPER_COUNTS[depth] + 2_752
    assert n_params(build_model(config, "plain", (3, 32, 32), 10)) == PAPER_COUNTS[depth]  # option A adds nothing


def test_shortcut_modules_are_named_per_option():
    config = ExperimentConfig(depth=14, width=4)
    for option, transition, inside in [
        ("A", ZeroPadShortcut, IdentityShortcut),
        ("B", ProjectionShortcut, IdentityShortcut),
        ("C", ProjectionShortcut, ProjectionShortcut),
    ]:
        blocks = build_model(config.replace(shortcut=option), "residual").block_list()
        kinds = [type(b.shortcut) for b in blocks]
        assert kinds == [inside, inside, transition, inside, transition, inside], option
        assert type(blocks[2].shortcut).__name__ in repr(build_model(config.replace(shortcut=option), "residual"))
    assert all(b.shortcut is None for b in build_model(config, "plain").block_list())


def test_mlp_shortcuts_identity_for_a_and_b_projection_for_c():
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=6)
    for option, kind in [("A", IdentityShortcut), ("B", IdentityShortcut), ("C", ProjectionShortcut)]:
        assert all(isinstance(b.shortcut, kind) for b in build_model(config.replace(shortcut=option), "residual").block_list())


def test_option_a_subsamples_and_zero_pads():
    shortcut = ZeroPadShortcut(4, 8, 2)
    x = torch.randn(3, 4, 8, 8)
    out = shortcut(x)
    assert out.shape == (3, 8, 4, 4)
    assert torch.equal(out[:, :4], x[:, :, ::2, ::2])
    assert torch.count_nonzero(out[:, 4:]) == 0


def test_stage_shapes_follow_the_cifar_layout():
    model = build_model(ExperimentConfig(depth=20, width=16), "residual", (3, 32, 32), 10)
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for b in model.block_list()]
    model(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert shapes == [(16, 32, 32)] * 3 + [(32, 16, 16)] * 3 + [(64, 8, 8)] * 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"shortcut": "B"},
        {"shortcut": "C"},
        {"norm": "none", "init": "xavier"},
        {"arch": "mlp", "dataset": "spirals", "shortcut": "C"},
    ],
)
def test_pair_starts_from_identical_shared_weights(kwargs):
    pair = build_pair(ExperimentConfig(depth=14, **kwargs))
    plain, residual = pair["plain"].state_dict(), pair["residual"].state_dict()
    assert set(plain) <= set(residual)
    assert all(torch.equal(plain[k], residual[k]) for k in plain)
    assert all(".shortcut." in k for k in set(residual) - set(plain))
    other_seed = build_model(ExperimentConfig(depth=14, seed=1, **kwargs), "plain").state_dict()
    assert not torch.equal(other_seed["blocks.0.layer1.weight"], plain["blocks.0.layer1.weight"])


@pytest.mark.parametrize("block", ["post", "pre"])
@pytest.mark.parametrize("norm", ["batch", "none"])
@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_zero_residual_makes_identity_blocks_exact_and_plain_output_constant(arch, norm, block):
    config = ExperimentConfig(arch=arch, dataset="digits", depth=14, width=8, init="zero_residual", norm=norm, block=block)
    pair = build_pair(config)
    x = torch.randn(16, *((1, 8, 8) if arch == "cnn" else (64,)))
    io = []
    residual = pair["residual"]
    hooks = [b.register_forward_hook(lambda m, i, o: io.append((m, i[0], o))) for b in residual.block_list()]
    residual(x)
    for h in hooks:
        h.remove()
    identity_blocks = [(i, o) for m, i, o in io if isinstance(m.shortcut, IdentityShortcut)]
    assert len(identity_blocks) >= 4
    for block_in, block_out in identity_blocks:
        assert torch.equal(block_in, block_out)  # exactly: g(0 + a) = a for a = relu(.) >= 0
    logits = pair["plain"](x)
    assert torch.equal(logits, logits[:1].expand_as(logits))  # every input gives the same output


def test_residual_block_adds_shortcut_before_the_last_activation():
    block = build_model(ExperimentConfig(arch="mlp", dataset="moons", depth=2, width=5, norm="none"), "residual").block_list()[0]
    x = torch.rand(4, 5)
    z2 = block.layer2(torch.relu(block.layer1(x)))
    assert torch.allclose(block(x), torch.relu(z2 + x))
    assert not torch.allclose(block(x), torch.relu(z2) + x)


def test_pre_activation_block_has_nothing_after_the_addition_and_one_head():
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=2, width=5, norm="none", activation="sigmoid", block="pre")
    model = build_model(config, "residual")
    block = model.block_list()[0]
    x = torch.randn(4, 5)
    z2 = block.layer2(torch.sigmoid(block.layer1(torch.sigmoid(x))))  # He et al. 2016, Fig. 4(e)
    assert torch.allclose(block(x), z2 + x)
    assert model.head is not None and build_model(config.replace(block="post"), "residual").head is None
    assert torch.allclose(model(x[:, :2]), model.fc(torch.sigmoid(model.blocks(model.stem(x[:, :2])))))


@pytest.mark.parametrize(
    "config",
    [ExperimentConfig(depth=1202, width=4), ExperimentConfig(arch="mlp", depth=1000, width=8)],
    ids=["cnn-1202", "mlp-1000"],
)
def test_deepest_nets_build_and_run_forward_backward_on_cpu(config):
    for variant in ("plain", "residual"):
        model = build_model(config, variant)
        x = torch.randn(8, *((1, 8, 8) if config.arch == "cnn" else (64,)))
        model(x).sum().backward()
        assert len(model.block_list()) == config.blocks
        assert all(isinstance(b, Block) for b in model.block_list())
