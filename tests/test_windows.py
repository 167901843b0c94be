"""helpers/windows.py: windows round trip, the shift mask, torchvision parity, bad inputs."""
import pytest
import torch

from helpers.windows import (PatchMerging, Swin, SwinBlock, SwinConfig, WindowAttention,
                             attention_weight_counts, receptive_field, relative_position_index,
                             shift_region_labels, shifted_window_mask, torchvision_patch_merging,
                             torchvision_window_attention, two_corners_task, window_connections,
                             window_partition, window_reverse)


def perturbed(module, seed=0):
    """Random non-trivial weights: biases and the relative position table away from 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module


@pytest.mark.parametrize("seed", range(20))
def test_partition_round_trip_over_random_sizes(seed):
    g = torch.Generator().manual_seed(seed)
    M = int(torch.randint(1, 5, (1,), generator=g))
    B, rows, cols, C = (int(n) for n in torch.randint(1, 4, (4,), generator=g))
    x = torch.randn(B, rows * M, cols * M, C, generator=g)
    windows = window_partition(x, M)
    assert windows.shape == (B * rows * cols, M * M, C)
    assert torch.equal(window_reverse(windows, M, rows * M, cols * M), x)


def test_each_window_holds_an_m_by_m_square():
    x = torch.arange(4 * 6).view(1, 4, 6, 1)  # the value is the position in reading order
    windows = window_partition(x, 2)[..., 0]  # (6, 4)
    assert windows[0].tolist() == [0, 1, 6, 7]  # the top-left 2x2 square
    assert windows[1].tolist() == [2, 3, 8, 9]  # its right-hand neighbour
    assert windows[3].tolist() == [12, 13, 18, 19]  # the first of the second row of windows


def independent_mask(G_h, G_w, M, s):
    """The mask from its definition: roll the positions, then two tokens of a window may
    attend iff their original positions were neighbours up to the wrap-around, i.e. they
    came from the same side of every seam the roll created. G_h rows, G_w columns."""
    rows = (torch.arange(G_h) + s) % G_h  # the original row now at each rolled row
    cols = (torch.arange(G_w) + s) % G_w
    wrapped_r = rows < s if s else torch.zeros(G_h, dtype=torch.bool)  # came from the top
    wrapped_c = cols < s if s else torch.zeros(G_w, dtype=torch.bool)
    masks = []
    for wr in range(G_h // M):
        for wc in range(G_w // M):
            r = torch.arange(wr * M, (wr + 1) * M).repeat_interleave(M)
            c = torch.arange(wc * M, (wc + 1) * M).repeat(M)
            side_r, side_c = wrapped_r[r], wrapped_c[c]
            masks.append((side_r[:, None] == side_r[None, :]) & (side_c[:, None] == side_c[None, :]))
    return torch.stack(masks)


@pytest.mark.parametrize("G_h, G_w, M, s", [(8, 8, 4, 2), (8, 12, 4, 2), (6, 6, 3, 1), (4, 4, 2, 1),
                                            (12, 8, 4, 1), (8, 8, 4, 0)])
def test_shift_mask_against_an_independent_construction(G_h, G_w, M, s):
    assert torch.equal(shifted_window_mask(G_h, G_w, M, s), independent_mask(G_h, G_w, M, s))


def test_region_labels_and_mask_of_the_paper_figure():
    labels = shift_region_labels(8, 8, 4, 2)
    assert labels.unique().tolist() == list(range(9))
    mask = shifted_window_mask(8, 8, 4, 2)  # (4, 16, 16)
    assert mask[0].all()  # the top-left window of the rolled map is one piece
    assert [int(m.sum()) for m in mask] == [256, 128, 128, 64]  # 1, 2, 2 and 4 pieces
    assert shifted_window_mask(8, 8, 4, 0).all()


def test_relative_position_index():
    M = 3
    index = relative_position_index(M)
    assert index.shape == (9, 9) and index.min() == 0 and index.max() == (2 * M - 1) ** 2 - 1
    assert (index.diagonal() == index[0, 0]).all()  # offset (0, 0) everywhere on the diagonal
    assert index[8, 0] == (2 * M - 1) ** 2 - 1 and index[0, 8] == 0  # the two far corners
    theirs = pytest.importorskip("helpers.vit")._import_torchvision_models().swin_transformer
    module = theirs.ShiftedWindowAttention(6, [M, M], [0, 0], 2)
    assert torch.equal(index.flatten(), module.relative_position_index)


@pytest.mark.parametrize("G_h, G_w, M, shift", [
    (8, 8, 4, 0), (8, 8, 4, 2), (7, 10, 4, 2), (9, 9, 3, 1), (5, 6, 4, 0), (4, 6, 4, 2), (6, 6, 2, 1),
])
@pytest.mark.parametrize("need_weights", [False, True])
def test_window_attention_matches_torchvision(G_h, G_w, M, shift, need_weights):
    torch.manual_seed(0)
    ours = perturbed(WindowAttention(16, 2, M, shift))
    theirs = torchvision_window_attention(ours)
    x = torch.randn(2, G_h, G_w, 16, requires_grad=True)
    a, weights = ours(x, need_weights=need_weights)
    b = theirs(x)
    assert a.shape == (2, G_h, G_w, 16)
    assert torch.allclose(a, b, atol=1e-5)
    grad = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x, ours.qkv.weight, ours.relative_position_bias_table], grad)
    gb = torch.autograd.grad(b, [x, theirs.qkv.weight, theirs.relative_position_bias_table], grad)
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-5)
    if need_weights:
        n_w = -(-G_h // M) * -(-G_w // M)  # windows of the map padded to multiples of M
        assert weights.shape == (2, n_w, 2, M * M, M * M)
        assert torch.allclose(weights.sum(-1), torch.ones(()), atol=1e-5)


def test_patch_merging_matches_torchvision():
    torch.manual_seed(0)
    ours = perturbed(PatchMerging(8))
    x = torch.randn(3, 4, 6, 8)
    assert ours(x).shape == (3, 2, 3, 16)
    assert torch.allclose(ours(x), torchvision_patch_merging(ours)(x), atol=1e-5)


def test_swin_shapes_fast_path_and_weights():
    torch.manual_seed(0)
    model = Swin(SwinConfig(image_size=8, patch_size=2, d_model=16, depths=(2, 2), num_heads=(2, 4),
                            window_size=2))
    x = torch.rand(3, 1, 8, 8)
    fast, none = model(x)
    slow, weights = model(x, need_weights=True)
    assert none is None and fast.shape == (3, 10) and torch.allclose(fast, slow, atol=1e-5)
    assert [tuple(w.shape) for w in weights] == [(3, 4, 2, 4, 4)] * 2 + [(3, 1, 4, 4, 4)] * 2


def test_attention_weight_counts():
    assert attention_weight_counts(56, 56, 7) == (56 ** 4, 49 * 56 * 56)
    assert attention_weight_counts(8, 8, 8) == (4096, 4096)
    assert attention_weight_counts(4, 6, 2) == (24 ** 2, 4 * 24)  # G_h = 4 rows, G_w = 6 columns


def test_receptive_field_matches_gradients_through_real_blocks():
    grid, M, blocks = 8, 4, 3
    for shifted in (False, True):
        torch.manual_seed(0)
        layers = [perturbed(WindowAttention(8, 2, M, (M // 2) * (b % 2) if shifted else 0), b)
                  for b in range(blocks)]
        field = receptive_field(grid, M, blocks, shifted)
        x = torch.randn(1, grid, grid, 8, requires_grad=True)
        y = x
        for b, layer in enumerate(layers):
            y = y + layer(y)[0]
            for patch in (0, 27, 63):
                (g,) = torch.autograd.grad(y[0].flatten(0, 1)[patch].sum(), x, retain_graph=True)
                reached = g[0].abs().sum(-1).flatten() > 0
                assert torch.equal(reached, field[b + 1, patch]), (shifted, b, patch)
    assert not receptive_field(8, 4, 5, shifted=False)[-1, 0, 63]  # windows never meet
    assert receptive_field(8, 4, 3, shifted=True)[-1, 0, 63]


def test_window_connections_are_symmetric_and_reflexive():
    c = window_connections(8, 4, 2)
    assert torch.equal(c, c.T) and c.diagonal().all()
    assert int(c.sum()) == int(shifted_window_mask(8, 8, 4, 2).sum())


def test_two_corners_task():
    X, y = two_corners_task(400, seed=1)
    assert X.shape == (400, 1, 8, 8) and set(y.tolist()) == {0, 1}
    assert 0.4 < y.float().mean() < 0.6
    assert torch.equal(X.flatten(1).sum(-1), torch.full((400,), 4.0))  # two marks, two pixels each
    assert torch.equal(two_corners_task(5, seed=3)[0], two_corners_task(5, seed=3)[0])
    state = torch.get_rng_state()
    two_corners_task(5)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("call, words", [
    (lambda: window_partition(torch.zeros(1, 6, 8, 2), 4), "not divisible into 4x4 windows"),
    (lambda: window_partition(torch.zeros(1, 4, 4, 2), 8), "larger than the 4x4 grid"),
    (lambda: window_partition(torch.zeros(6, 8, 2), 2), "for one map use x\\[None\\]"),
    (lambda: window_reverse(torch.zeros(5, 4, 2), 2, 4, 4), "n_w = 4 windows"),
    (lambda: shifted_window_mask(8, 8, 4, 4), "between 0 and M - 1 = 3"),
    (lambda: WindowAttention(16, 2, 4)(torch.zeros(1, 3, 8, 16)), "larger than the 3x8 grid"),
    (lambda: WindowAttention(16, 2, 4)(torch.zeros(1, 8, 8, 12)), "must be \\(B, G_h, G_w, 16\\), got \\(1, 8, 8, 12\\)"),
    (lambda: WindowAttention(15, 2, 4), "must divide by num_heads"),
    (lambda: PatchMerging(4)(torch.zeros(1, 3, 4, 4)), "must be even, got a 3x4 grid"),
    (lambda: Swin(SwinConfig(image_size=8, patch_size=2, window_size=4, depths=(2, 2), num_heads=(2, 2))),
     "stage 1 has a 2x2 grid, smaller than the window"),
    (lambda: Swin(SwinConfig())(torch.zeros(1, 1, 6, 6)), "must be \\(B, C, 8, 8\\)"),
    (lambda: two_corners_task(10, grid=3), "corners must not overlap"),
])
def test_bad_inputs_name_the_problem(call, words):
    with pytest.raises((ValueError, TypeError), match=words):
        call()


def test_swin_builds_its_blocks_and_merging_from_the_classes_it_is_given():
    class CountedBlock(SwinBlock):
        made = 0

        def __init__(self, *args):
            super().__init__(*args)
            CountedBlock.made += 1

    class CountedMerging(PatchMerging):
        pass

    config = SwinConfig(image_size=8, patch_size=2, d_model=8, depths=(2, 2), num_heads=(2, 2),
                        window_size=2)
    torch.manual_seed(0)
    model = Swin(config, block=CountedBlock, merging=CountedMerging)
    assert CountedBlock.made == 4 and isinstance(model.merges[0], CountedMerging)
    torch.manual_seed(0)
    plain = Swin(config)
    assert model.state_dict().keys() == plain.state_dict().keys()
    images = torch.randn(2, 1, 8, 8)
    assert torch.allclose(model(images)[0], plain(images)[0])
