"""The Vision Transformer (Dosovitskiy et al., 2021): an image as a sequence of patches.

Used by notebook 09. Letters as on the course's card (helpers/__init__.py): an image
(B, C_in, R, R) with C_in channels is cut into N = (R/P)² = G² square patches of side P;
each patch, flattened to C_in·P·P numbers, is one token of width C. (The paper writes the
image as H×W×C; here C is the model width and H the heads. Code names an image's rows and
columns H and W, PyTorch's names, because the functions also take non-square images.)

    patches  = patchify(images, P)                    # (B, N, C_in·P·P)
    tokens   = patches @ E                            # (B, N, C): the linear patch embedding
    x        = [x_class; tokens] + E_pos              # (B, N + 1, C): class token, positions
    x        = Encoder(x)                             # pre-norm blocks from notebook 06
    logits   = head(x[:, 0])                          # (B, classes): read the class token

The parameter names differ from torchvision's, the maths does not: ``copy_vit_to_torchvision``
copies the weights into ``torchvision.models.VisionTransformer`` so that the two can be
compared. A small CNN (``SmallCNN``), the digit images and a shift augmentation are here too,
for the notebook's comparisons.
"""
import importlib
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import check_positive_int, check_same_dtype, check_tensor, shape_str
from helpers._torchvision import import_torchvision
from helpers.encoder import Encoder, EncoderBlock, EncoderConfig


def check_images(name: str, images, channels: int | None = None,
                 patch_size: int | None = None, image_size: int | None = None) -> None:
    """``images`` must be a float (B, C_in, R, R) tensor; C_in, the side and P checked if given."""
    check_tensor(name, images)
    if images.dim() != 4:
        hint = f"; for one image use {name}[None]" if images.dim() == 3 else ""
        raise ValueError(f"{name} must be (B, C, H, W), got {shape_str(images.shape)}{hint}")
    B, C, H, W = images.shape
    if channels is not None and C != channels:
        raise ValueError(f"{name} must have {channels} channel(s): (B, {channels}, H, W), got "
                         f"{shape_str(images.shape)}")
    if patch_size is not None and (H % patch_size or W % patch_size):
        raise ValueError(f"image size {H}x{W} is not divisible by the patch size P={patch_size}: "
                         f"patches would not tile the image; crop or pad it to a multiple of {patch_size}")
    if image_size is not None and (H, W) != (image_size, image_size):
        raise ValueError(f"{name} must be (B, C, {image_size}, {image_size}), got "
                         f"{shape_str(images.shape)}")


def patchify(images, patch_size: int):
    """Cut images into non-overlapping P×P patches, each flattened channel by channel.

    images (B, C_in, R, R) -> patches (B, N, C_in·P·P) with N = (R/P)² (non-square: rows/P · cols/P), patches in reading
    order (left to right, then top to bottom). Each patch is flattened as (C_in, P, P), the
    layout of a Conv2d kernel, so that the linear embedding is exactly a Conv2d (notebook 11).
    Example: a 1×4×4 image with P = 2 gives 4 patches of 4 pixels; patch 0 is the top-left
    2×2 square [x[0,0], x[0,1], x[1,0], x[1,1]].
    """
    check_positive_int("patch_size", patch_size)
    check_images("images", images, patch_size=patch_size)
    B, C, H, W = images.shape
    P = patch_size
    x = images.view(B, C, H // P, P, W // P, P)  # (B, C_in, rows, P, cols, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C_in, P, P)
    return x.reshape(B, (H // P) * (W // P), C * P * P)  # (B, N, C_in·P·P)


@dataclass
class ViTConfig:
    """Sizes of a Vision Transformer; the defaults suit 8×8 digits on a laptop CPU."""

    image_size: int = 8  # H = W
    patch_size: int = 2  # P; N = (image_size / P)² = G² patches
    channels: int = 1  # C_in (3 for RGB)
    num_classes: int = 10
    d_model: int = 32  # C, the width of every token (ViT-B: 768)
    num_heads: int = 4  # (ViT-B: 12)
    d_ff: int = 64  # the MLP's hidden width (ViT-B: 3072)
    num_layers: int = 3  # (ViT-B: 12)
    pool: str = "cls"  # "cls": read the class token; "mean": average the patch tokens
    representation_size: int | None = None  # a hidden layer (tanh) in the head, as in pre-training

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ViT(nn.Module):
    """A Vision Transformer: patches, a linear embedding, a class token, learned positions,
    a pre-norm encoder and a head on the class token.

    images (B, C_in, R, R) -> logits (B, classes), and the weights of every layer and head
    (B, L, H, T, T) with T = N + 1 if need_weights, else None (the fast path, for training).
    """

    def __init__(self, config: ViTConfig = ViTConfig()):
        super().__init__()
        for name in ("image_size", "patch_size", "channels", "num_classes"):
            check_positive_int(name, getattr(config, name))
        if config.image_size % config.patch_size:
            raise ValueError(f"image_size {config.image_size} is not divisible by patch_size "
                             f"{config.patch_size}")
        if config.pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {config.pool!r}")
        self.config = config
        C_in, P, C = config.channels, config.patch_size, config.d_model
        self.patch_embed = nn.Linear(C_in * P * P, C)  # E: one patch -> one token of width C
        self.class_token = nn.Parameter(torch.zeros(1, 1, C)) if config.pool == "cls" else None
        num_tokens = config.num_patches + (config.pool == "cls")
        self.pos_embed = nn.Parameter(torch.randn(1, num_tokens, C) * 0.02)  # E_pos, learned
        self.encoder = Encoder(EncoderConfig(d_model=C, num_heads=config.num_heads,
                                             d_ff=config.d_ff, num_layers=config.num_layers,
                                             norm_first=True))
        if config.representation_size is None:
            self.head = nn.Linear(C, config.num_classes)
        else:
            self.head = nn.Sequential(nn.Linear(C, config.representation_size), nn.Tanh(),
                                      nn.Linear(config.representation_size, config.num_classes))

    def embed(self, images):
        """images (B, C_in, R, R) -> the encoder's input tokens (B, T, C), positions added."""
        c = self.config
        check_images("images", images, c.channels, c.patch_size, c.image_size)
        check_same_dtype("images", images, self)
        x = self.patch_embed(patchify(images, c.patch_size))  # (B, N, C)
        if self.class_token is not None:
            cls = self.class_token.expand(x.shape[0], -1, -1)  # (B, 1, C)
            x = torch.cat([cls, x], dim=1)  # (B, N + 1, C)
        return x + self.pos_embed  # (B, T, C)

    def forward(self, images, need_weights=False):
        x = self.embed(images)  # (B, T, C)
        x, weights = self.encoder(x, need_weights=need_weights)  # (B, T, C)
        pooled = x[:, 0] if self.class_token is not None else x.mean(dim=1)  # (B, C)
        return self.head(pooled), weights  # (B, classes), (B, L, H, T, T) or None


class EncoderBlockWithWeights(EncoderBlock):
    """The course's encoder block with the interface of the learner's (notebook 06):
    ``forward(x, mask=None)`` -> (out (B, T, C), weights (B, H, T, T)), the weights always
    returned (the course's block returns them only when asked, need_weights=True)."""

    def forward(self, x, mask=None, bias=None, need_weights=True):
        return super().forward(x, mask, bias, need_weights=True)


def returning_weights(block_class):
    """``block_class`` with a forward that always returns its weights: the learner's block
    from notebook 06 as it is, the course's as ``EncoderBlockWithWeights``. Notebook 11's
    encoder exercise builds its blocks from what this returns, so the same code runs on
    either."""
    return EncoderBlockWithWeights if block_class is EncoderBlock else block_class


def _import_torchvision_models():
    """torchvision.models, also where torchvision's compiled operators cannot load
    (the workaround lives in ``helpers._torchvision``)."""
    import_torchvision()
    return importlib.import_module("torchvision.models")


def torchvision_vit(config: ViTConfig):
    """torchvision's VisionTransformer with our sizes, no dropout, and our LayerNorm eps
    (1e-5; torchvision's default is 1e-6, from the original JAX code). torchvision builds
    its patch embedding for 3 channels; for other images we give it one for ours."""
    from functools import partial

    models = _import_torchvision_models()
    if config.pool != "cls":
        raise ValueError("torchvision's VisionTransformer reads the class token: pool='cls'")
    model = models.VisionTransformer(
        image_size=config.image_size, patch_size=config.patch_size,
        num_layers=config.num_layers, num_heads=config.num_heads, hidden_dim=config.d_model,
        mlp_dim=config.d_ff, num_classes=config.num_classes,
        representation_size=config.representation_size,
        norm_layer=partial(nn.LayerNorm, eps=1e-5))
    if config.channels != 3:
        P = config.patch_size
        model.conv_proj = nn.Conv2d(config.channels, config.d_model, kernel_size=P, stride=P)
    return model


def vit_b_16_reference():
    """torchvision's ViT-B/16 (untrained), for counting its parameters."""
    return _import_torchvision_models().vit_b_16()


def copy_vit_to_torchvision(ours: ViT, theirs):
    """Copy our ViT's weights into a torchvision VisionTransformer of the same sizes.

    The patch embedding becomes ``conv_proj``: our Linear weight (C, C_in·P·P) viewed as a
    kernel (C, C_in, P, P). Returns ``theirs``.
    """
    c = ours.config
    if theirs.hidden_dim != c.d_model or theirs.patch_size != c.patch_size \
            or len(theirs.encoder.layers) != c.num_layers:
        raise ValueError("torchvision's model must have our d_model, patch_size and num_layers; "
                         "build it with torchvision_vit(config)")
    P, C = c.patch_size, c.channels
    with torch.no_grad():
        theirs.conv_proj.weight.copy_(ours.patch_embed.weight.view(-1, C, P, P))
        theirs.conv_proj.bias.copy_(ours.patch_embed.bias)
        theirs.class_token.copy_(ours.class_token)
        theirs.encoder.pos_embedding.copy_(ours.pos_embed)
        for block, layer in zip(ours.encoder.blocks, theirs.encoder.layers):
            layer.self_attention.in_proj_weight.copy_(block.attn.in_proj.weight)
            layer.self_attention.in_proj_bias.copy_(block.attn.in_proj.bias)
            layer.self_attention.out_proj.load_state_dict(block.attn.out_proj.state_dict())
            layer.ln_1.load_state_dict(block.norm1.state_dict())
            layer.ln_2.load_state_dict(block.norm2.state_dict())
            layer.mlp[0].load_state_dict(block.mlp.up.state_dict())
            layer.mlp[3].load_state_dict(block.mlp.down.state_dict())
        theirs.encoder.ln.load_state_dict(ours.encoder.final_norm.state_dict())
        if c.representation_size is None:
            theirs.heads.head.load_state_dict(ours.head.state_dict())
        else:
            theirs.heads.pre_logits.load_state_dict(ours.head[0].state_dict())
            theirs.heads.head.load_state_dict(ours.head[2].state_dict())
    return theirs


class SmallCNN(nn.Module):
    """A small convolutional network for 8×8 images, to compare with the ViT.

    Two 3×3 convolutions (each output pixel sees its 3×3 neighbourhood: locality, and the
    same kernel everywhere: translation equivariance), a 2×2 max-pool, a linear classifier.
    images (B, C_in, R, R) -> logits (B, classes), None (no attention weights).
    """

    def __init__(self, channels=1, num_classes=10, width=16, image_size=8):
        super().__init__()
        self.channels, self.image_size = channels, image_size
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.MaxPool2d(2))
        self.head = nn.Linear(width * (image_size // 2) ** 2, num_classes)

    def forward(self, images):
        check_images("images", images, self.channels, image_size=self.image_size)
        x = self.features(images)  # (B, width, H/2, W/2)
        return self.head(x.flatten(1)), None  # (B, classes)


class RandomShift(nn.Module):
    """Training-time augmentation: shift each image by up to ``max_shift`` pixels (zeros
    come in at the edges). Does nothing in eval mode. Its own seeded generator keeps the
    global random stream untouched. images (B, C_in, R, R) -> (B, C_in, R, R)."""

    def __init__(self, max_shift: int = 1, seed: int = 0):
        super().__init__()
        check_positive_int("max_shift", max_shift, allow_zero=True)
        self.max_shift = max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, images):
        check_images("images", images)
        if not self.training or self.max_shift == 0:
            return images
        B, C, H, W = images.shape
        s = self.max_shift
        padded = nn.functional.pad(images, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
        dy, dx = torch.randint(0, 2 * s + 1, (2, B), generator=self.generator)
        rows = (dy[:, None] + torch.arange(H))[:, None, :, None].expand(B, C, H, W + 2 * s)
        out = padded.gather(2, rows)  # (B, C, H, W + 2s): each image's rows
        cols = (dx[:, None] + torch.arange(W))[:, None, None, :].expand(B, C, H, W)
        return out.gather(3, cols)  # (B, C_in, R, R)


class Augmented(nn.Module):
    """``model`` with an augmentation in front, for ``helpers.fit``: (images) -> model(aug(images))."""

    def __init__(self, augment: nn.Module, model: nn.Module):
        super().__init__()
        self.augment, self.model = augment, model

    def forward(self, images):
        return self.model(self.augment(images))


def load_digits_split(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 1,797 handwritten 8×8 digits, shipped inside the package (no download).

    Returns (X_train, y_train), (X_test, y_test): images (n, 1, 8, 8) scaled to [0, 1] and
    labels 0..9, split at random with ``seed`` (its own generator), stratified by class.
    """
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0  # (n, 1, 8, 8)
    y = torch.tensor(digits.target, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(y), dtype=torch.bool)
    for label in range(10):  # the same share of every digit in the test set
        idx = (y == label).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        test[idx[:round(len(idx) * test_fraction)]] = True
    return (X[~test], y[~test]), (X[test], y[test])


def subsample(X, y, fraction: float, seed: int = 0):
    """A random ``fraction`` of (X, y), the same share of every class (own generator)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    keep = []
    for label in y.unique():
        idx = (y == label).nonzero().flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:max(1, round(len(idx) * fraction))]])
    keep = torch.cat(keep).sort().values
    return X[keep], y[keep]


def attention_rollout(weights):
    """Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on each
    input token through all layers, residuals included.

    weights (B, L, H, T, T) -> (B, T, T): per layer, average the heads, add the identity
    (the residual path), renormalise the rows, and multiply the layers' matrices.
    """
    check_tensor("weights", weights)
    if weights.dim() != 5 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be (B, L, H, T, T), got {shape_str(weights.shape)}")
    B, L, H, T, _ = weights.shape
    eye = torch.eye(T, dtype=weights.dtype)
    rollout = eye.expand(B, T, T)
    for layer in range(L):
        a = weights[:, layer].mean(dim=1) + eye  # (B, T, T)
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout  # (B, T, T)
    return rollout


def patch_distances(grid: int, patch_size: int = 1):
    """Distances in pixels between the centres of every pair of patches on a grid×grid
    layout: (N, N) with N = G², G = grid."""
    check_positive_int("grid", grid)
    check_positive_int("patch_size", patch_size)
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=-1).float() * patch_size  # (N, 2)
    return torch.cdist(centres, centres)  # (N, N)


def mean_attention_distance(weights, grid: int, patch_size: int = 1, skip_tokens: int = 1):
    """The paper's "attention distance" (its Figure 7, right): for each layer and head, the
    average pixel distance between a patch and the patches it attends to, weighted by
    attention, averaged over patches and images.

    weights (B, L, H, T, T), the first ``skip_tokens`` of them not patches (the class token)
    -> (L, H). Weights among patches only, renormalised to sum to 1 per query.
    """
    check_tensor("weights", weights)
    N = grid * grid
    if weights.dim() != 5 or weights.shape[-1] != N + skip_tokens:
        raise ValueError(f"weights must be (B, L, H, T, T) with T = {N} patches + {skip_tokens}, "
                         f"got {shape_str(weights.shape)}")
    w = weights[..., skip_tokens:, skip_tokens:]  # (B, L, H, N, N)
    w = w / w.sum(dim=-1, keepdim=True)
    distance = (w * patch_distances(grid, patch_size)).sum(-1)  # (B, L, H, N)
    return distance.mean(dim=(0, -1))  # (L, H)


def position_similarity(pos_embed, grid: int):
    """Cosine similarity of every patch's position embedding with every other's, laid out
    on the grid as in the paper's Figure 7 (centre): (N or N + 1, C) -> (grid, grid, grid,
    grid), entry [i, j, k, l] = cos(E_pos of patch (i, j), E_pos of patch (k, l)).
    A class-token position (the first of N + 1) is dropped."""
    check_tensor("pos_embed", pos_embed)
    e = pos_embed.detach().reshape(-1, pos_embed.shape[-1])
    N = grid * grid
    if e.shape[0] not in (N, N + 1):
        raise ValueError(f"pos_embed must hold {N} or {N + 1} positions for a {grid}x{grid} "
                         f"grid, got {shape_str(pos_embed.shape)}")
    e = nn.functional.normalize(e[-N:], dim=-1)  # (N, C)
    return (e @ e.T).view(grid, grid, grid, grid)
