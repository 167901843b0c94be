"""helpers/vit.py: the ViT against torchvision's, patchify against Conv2d, bad inputs."""
import pytest
import torch
from torch import nn

from helpers.vit import (RandomShift, SmallCNN, ViT, ViTConfig, attention_rollout,
                         copy_vit_to_torchvision, load_digits_split, mean_attention_distance,
                         patchify, position_similarity, torchvision_vit, vit_b_16_reference)


def perturbed(model, seed=0):
    """Random non-trivial weights (LayerNorms away from 1 and 0, a non-zero class token)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("config", [
    ViTConfig(image_size=8, patch_size=2, channels=3, d_model=32, num_heads=4, d_ff=64, num_layers=2),
    ViTConfig(image_size=12, patch_size=4, channels=1, d_model=24, num_heads=2, d_ff=48, num_layers=1),
    ViTConfig(image_size=8, patch_size=4, channels=3, d_model=32, num_heads=4, d_ff=64, num_layers=2,
              representation_size=16),
])
def test_matches_torchvision_forward_and_gradients(config):
    torch.manual_seed(0)
    ours = perturbed(ViT(config))
    theirs = copy_vit_to_torchvision(ours, torchvision_vit(config)).eval()
    x = torch.randn(3, config.channels, config.image_size, config.image_size, requires_grad=True)
    a, b = ours(x)[0], theirs(x)
    assert torch.allclose(a, b, atol=1e-5)
    grad = torch.randn_like(a)
    ga = torch.autograd.grad(a, [x, ours.patch_embed.weight, ours.class_token, ours.pos_embed,
                                 ours.encoder.blocks[0].attn.in_proj.weight], grad)
    gb = torch.autograd.grad(b, [x, theirs.conv_proj.weight, theirs.class_token,
                                 theirs.encoder.pos_embedding,
                                 theirs.encoder.layers[0].self_attention.in_proj_weight], grad)
    ga = [ga[0], ga[1].view_as(gb[1]), *ga[2:]]
    for u, v in zip(ga, gb):
        assert torch.allclose(u, v, atol=1e-5)


def test_fast_path_and_weights_path_agree():
    torch.manual_seed(0)
    model = perturbed(ViT(ViTConfig()))
    x = torch.rand(4, 1, 8, 8)
    fast, none = model(x)
    slow, weights = model(x, need_weights=True)
    assert none is None and weights.shape == (4, 3, 4, 17, 17)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_vit_b_16_has_torchvisions_parameter_count():
    config = ViTConfig(image_size=224, patch_size=16, channels=3, num_classes=1000, d_model=768,
                       num_heads=12, d_ff=3072, num_layers=12)
    ours = sum(p.numel() for p in ViT(config).parameters())
    theirs = sum(p.numel() for p in vit_b_16_reference().parameters())
    assert ours == theirs == 86_567_656


@pytest.mark.parametrize("C, H, W, P", [(1, 8, 8, 2), (3, 8, 12, 4), (2, 6, 6, 3), (3, 4, 4, 4)])
def test_patchify_then_linear_is_a_conv2d_with_stride_p(C, H, W, P):
    torch.manual_seed(0)
    images = torch.randn(2, C, H, W)
    linear = nn.Linear(C * P * P, 8)
    conv = nn.Conv2d(C, 8, kernel_size=P, stride=P)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(8, C, P, P))
        conv.bias.copy_(linear.bias)
    by_linear = linear(patchify(images, P))  # (B, N, 8)
    by_conv = conv(images).flatten(2).transpose(1, 2)  # (B, N, 8)
    assert by_linear.shape == (2, (H // P) * (W // P), 8)
    assert torch.allclose(by_linear, by_conv, atol=1e-5)


def test_patchify_reading_order_on_a_small_example():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    patches = patchify(x, 2)
    assert patches[0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]


@pytest.mark.parametrize("bad, error, words", [
    (torch.zeros(2, 1, 9, 8), ValueError, "not divisible by the patch size P=2"),
    (torch.zeros(2, 3, 8, 8), ValueError, "must have 1 channel(s): (B, 1, H, W), got (2, 3, 8, 8)"),
    (torch.zeros(1, 8, 8), ValueError, "must be (B, C, H, W), got (1, 8, 8)"),
    (torch.zeros(2, 1, 8, 8, dtype=torch.long), TypeError, "floating-point"),
    (torch.zeros(2, 1, 12, 12), ValueError, "must be (B, C, 8, 8), got (2, 1, 12, 12)"),
])
def test_bad_images_get_clear_errors(bad, error, words):
    with pytest.raises(error) as info:
        ViT(ViTConfig())(bad)
    assert words in str(info.value)


def test_bad_configs_and_patch_sizes():
    with pytest.raises(ValueError, match="not divisible by patch_size"):
        ViT(ViTConfig(image_size=10, patch_size=4))
    with pytest.raises(ValueError, match="pool must be"):
        ViT(ViTConfig(pool="max"))
    with pytest.raises(ValueError, match="not divisible by the patch size P=3"):
        patchify(torch.zeros(1, 1, 8, 8), 3)


def test_mean_pooling_has_no_class_token():
    model = ViT(ViTConfig(pool="mean"))
    assert model.class_token is None and model.pos_embed.shape == (1, 16, 32)
    logits, weights = model(torch.rand(2, 1, 8, 8), need_weights=True)
    assert logits.shape == (2, 10) and weights.shape[-1] == 16


def test_rollout_rows_sum_to_one_and_distance_of_uniform_attention():
    w = torch.softmax(torch.randn(2, 3, 4, 17, 17), -1)
    r = attention_rollout(w)
    assert r.shape == (2, 17, 17) and torch.allclose(r.sum(-1), torch.ones(2, 17))
    local = torch.zeros(1, 1, 1, 17, 17)
    local[..., 1:, 1:] = torch.eye(16)  # every patch attends to itself only
    assert mean_attention_distance(local, grid=4, patch_size=2).item() == 0.0


def test_position_similarity_is_one_on_the_diagonal():
    sim = position_similarity(torch.randn(1, 17, 8), grid=4)
    assert sim.shape == (4, 4, 4, 4)
    assert torch.allclose(sim.reshape(16, 16).diagonal(), torch.ones(16), atol=1e-6)


def test_random_shift_keeps_eval_images_and_the_global_stream():
    shift = RandomShift(1, seed=0)
    x = torch.rand(5, 1, 8, 8)
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    moved = shift(x)
    assert torch.equal(torch.rand(2), expected)
    assert moved.shape == x.shape
    shift.eval()
    assert torch.equal(shift(x), x)


def test_digits_split_and_cnn_shapes():
    (X, y), (Xt, yt) = load_digits_split()
    assert X.shape[1:] == (1, 8, 8) and len(y) + len(yt) == 1797
    assert 0.19 < len(yt) / 1797 < 0.21 and float(X.max()) == 1.0
    assert SmallCNN()(X[:3])[0].shape == (3, 10)


def test_returning_weights_gives_the_course_block_the_learners_interface():
    """Notebook 11's encoder exercise calls block(x) and needs (out, weights) from the
    learner's block of notebook 06 and from the course's alike."""
    from helpers.encoder import EncoderBlock, EncoderConfig
    from helpers.vit import EncoderBlockWithWeights, returning_weights

    class LearnersBlock(nn.Module):
        pass

    assert returning_weights(EncoderBlock) is EncoderBlockWithWeights
    assert returning_weights(LearnersBlock) is LearnersBlock
    config = EncoderConfig(d_model=16, num_heads=2, d_ff=32)
    torch.manual_seed(0)
    block, course = EncoderBlockWithWeights(config), perturbed(EncoderBlock(config))
    block.load_state_dict(course.state_dict())
    x = torch.randn(2, 5, 16)
    out, weights = block(x)
    expected, expected_weights = course(x, need_weights=True)
    assert torch.allclose(out, expected, atol=1e-6) and weights.shape == (2, 2, 5, 5)
    assert torch.allclose(weights, expected_weights)
    assert torch.allclose(block(x, None, None, False)[1], expected_weights)  # as Encoder calls it
