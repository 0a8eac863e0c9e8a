"""FLOPs and bytes against hand-computed cases; the torch module's size matches the catalogue."""

from __future__ import annotations

import random

import pytest
import torch

from measurement.architecture import SHAPES, Architecture, Shape, grid, size_architecture
from measurement.cost import cost, describe
from measurement.network import build_module


def _arch(widths, input_dim, shape=Shape.RECTANGLE) -> Architecture:
    from measurement.architecture import param_count

    return Architecture(
        shape, len(widths), 100, input_dim, widths[-1], tuple(widths), param_count(tuple(widths), input_dim)
    )


def test_cost_hand_computed() -> None:
    # input 3 -> 4 -> 2: MACs 3*4 + 4*2 = 20; params (3+1)*4 + (4+1)*2 = 26
    c = cost(_arch((4, 2), 3), batch_size=10)
    assert c.macs_per_datum == 20
    assert c.train_flops_per_datum == 120
    assert c.inference_flops_per_datum == 40
    assert c.param_bytes == 26 * 4
    assert c.activation_bytes == 10 * (3 + 4 + 2) * 4
    assert c.train_working_set_bytes == 4 * 26 * 4 + 10 * 9 * 4
    assert c.inference_working_set_bytes == 26 * 4 + 10 * (3 + 4) * 4


def test_traffic_and_term_working_sets_hand_computed() -> None:
    # input 3 -> 4 -> 2 at batch 10; hidden widths sum 4, all widths sum 6
    c = cost(_arch((4, 2), 3), batch_size=10)
    relu_forward, relu_backward = 2 * 4, 3 * 4  # the hidden layer's ReLU: read + write; read 2 + write
    gather, forward = 2 * 3, (3 + 4) + 6 + relu_forward  # read+write the input; read layer inputs, write outputs
    backward = (3 + 4) + 6 + 4 + relu_backward  # read stored inputs and output gradients, write input gradients
    assert c.inference_activation_bytes_per_datum == forward * 4  # inference slices test rows: no gather
    assert c.train_activation_bytes_per_datum == (gather + forward + backward) * 4
    assert c.train_optimizer_bytes_per_datum == pytest.approx(10 * 26 * 4 / 10)
    assert c.inference_optimizer_bytes_per_datum == pytest.approx(26 * 4 / 10)
    assert c.layer_working_set_bytes == max(3 * 4 + 10 * 7, 4 * 2 + 10 * 6) * 4
    assert c.inference_live_activation_bytes == 10 * (3 + 4) * 4


def test_residual_skips_add_their_traffic() -> None:
    """input 3 -> 4 -> 4 -> 2: the second hidden layer adds its input (3 values moved forward, 3 backward)."""
    plain, skip = cost(_arch((4, 4, 2), 3), 10), cost(_arch((4, 4, 2), 3, Shape.RECTANGLE_RESIDUAL), 10)
    assert skip.inference_activation_bytes_per_datum - plain.inference_activation_bytes_per_datum == 3 * 4 * 4
    assert skip.train_activation_bytes_per_datum - plain.train_activation_bytes_per_datum == 6 * 4 * 4


def test_a_wide_input_moves_traffic_not_only_flops() -> None:
    """Same parameter count, 16 vs 784 inputs: the wide-and-thin net moves far more activation bytes per FLOP."""
    thin = size_architecture("rectangle", 2, 2**16, 16, 4)
    wide = size_architecture("rectangle", 2, 2**16, 784, 10)
    per_flop = [cost(a, 256).train_activation_bytes_per_datum / cost(a, 256).train_flops_per_datum
                for a in (thin, wide)]  # fmt: skip
    assert per_flop[0] > 3 * per_flop[1]


def test_gemm_tail_flops_hand_computed() -> None:
    """input 20 -> 16 -> 33 -> 10: forward tails are the output columns past whole 16-column tiles (0, 1, 10);
    backward, the fan-in columns of the weight gradients (4, 0, 1) and of the input gradients (layers 2, 3)."""
    c = cost(_arch((16, 33, 10), 20), 8)
    forward = 2 * 20 * 0 + 2 * 16 * 1 + 2 * 33 * 10
    weight_grads = 2 * 16 * 4 + 2 * 33 * 0 + 2 * 10 * 1
    input_grads = 2 * 33 * 0 + 2 * 10 * 1
    assert c.inference_tail_flops_per_datum == forward
    assert c.train_tail_flops_per_datum == forward + weight_grads + input_grads


def test_a_layer_of_whole_tiles_has_no_tail_and_a_narrow_one_is_all_tail() -> None:
    """A 15-wide output is all tail (every FLOP of its forward GEMM); 16 fills one tile; 17 leaves one column."""
    tails = [cost(_arch((n,), 2048), 256).inference_tail_flops_per_datum for n in (15, 16, 17)]
    assert tails == [2 * 2048 * 15, 0, 2 * 2048 * 1]
    assert tails[0] == cost(_arch((15,), 2048), 256).inference_flops_per_datum


def test_residual_skips_add_no_gemm_and_no_tail() -> None:
    """A skip is an elementwise add: the residual net's GEMMs, and so its tails, are the plain net's."""
    plain, skip = cost(_arch((13, 13, 3), 7), 10), cost(_arch((13, 13, 3), 7, Shape.RECTANGLE_RESIDUAL), 10)
    assert skip.train_tail_flops_per_datum == plain.train_tail_flops_per_datum > 0
    assert skip.inference_tail_flops_per_datum == plain.inference_tail_flops_per_datum


def test_cost_rejects_bad_batch() -> None:
    with pytest.raises(ValueError, match="batch"):
        cost(_arch((4, 2), 3), batch_size=0)


def test_working_set_grows_with_batch_and_size() -> None:
    small = size_architecture("rectangle", 3, 2**10, 8, 1)
    big = size_architecture("rectangle", 3, 2**16, 8, 1)
    assert cost(big, 32).train_working_set_bytes > cost(small, 32).train_working_set_bytes
    assert cost(small, 512).train_working_set_bytes > cost(small, 32).train_working_set_bytes


@pytest.mark.parametrize("shape", SHAPES)
def test_module_parameter_count_matches_catalogue(shape: Shape) -> None:
    rng = random.Random(hash(shape.value) % 1000)
    for arch in rng.sample([a for a in grid(13, 3, shapes=(shape,)) if a.params < 2**17], 6):
        module = build_module(arch)
        assert sum(p.numel() for p in module.parameters()) == arch.params
        out = module(torch.zeros(5, 13))
        assert out.shape == (5, 3)


def test_residual_adds_identity_skips() -> None:
    arch = size_architecture("rectangle_residual", 4, 2**10, 6, 2)
    plain = build_module(size_architecture("rectangle", 4, 2**10, 6, 2))
    residual = build_module(arch)
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(7, 6)
    assert not torch.allclose(plain(x), residual(x))
    # with the last two hidden layers zeroed, the skips carry the first layer's output through
    with torch.no_grad():
        for layer in residual.layers[1:3]:
            layer.weight.zero_()
            layer.bias.zero_()
        h = torch.relu(residual.layers[0](x))
        assert torch.allclose(residual(x), residual.layers[3](h))


def test_describe_is_json_ready() -> None:
    import json

    row = describe(size_architecture("trapezoid", 5, 2**14, 784, 10), 256)
    assert json.loads(json.dumps(row))["params"] == row["params"]
    assert row["train_flops_per_datum"] == 6 * row["macs_per_datum"]
