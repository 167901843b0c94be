"""Notebook 11's exercises: the learner's ViT, step by step (patches, class token and
positions, the encoder stack, the pooling, the module), each check against the course's
code on the same weights, one test per named mistake."""

import pytest
import torch

import helpers
from helpers import exercises, yours
from notebook_cells import notebook_cell

SOLUTION = '''
import torch
from torch import nn

import helpers
from helpers.vit import returning_weights

EncoderBlock = returning_weights(helpers.EncoderBlock)


def my_patchify(images, P):
    B, C, H, W = images.shape
    x = images.view(B, C, H // P, P, W // P, P)  # (B, C, rows, P, cols, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, P, P)
    return x.reshape(B, (H // P) * (W // P), C * P * P)


def my_encoder_input(tokens, class_token, pos_embed):
    if class_token is not None:
        B = tokens.shape[0]
        tokens = torch.cat([class_token.expand(B, -1, -1), tokens], dim=1)
    return tokens + pos_embed


def my_pool(x, pool):
    return x[:, 0] if pool == "cls" else x.mean(dim=1)


class MyEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.norm_eps)

    def forward(self, x):
        all_weights = []
        for block in self.blocks:
            x, weights = block(x)
            all_weights.append(weights)
        return self.final_norm(x), torch.stack(all_weights, dim=1)


class MyViT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        C, P, d = config.channels, config.patch_size, config.d_model
        self.patch_embed = nn.Linear(C * P * P, d)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d)) if config.pool == "cls" else None
        T = config.num_patches + (config.pool == "cls")
        self.pos_embed = nn.Parameter(torch.randn(1, T, d) * 0.02)
        self.encoder = MyEncoder(helpers.EncoderConfig(
            d_model=d, num_heads=config.num_heads, d_ff=config.d_ff,
            num_layers=config.num_layers, norm_first=True))
        self.head = nn.Linear(d, config.num_classes)

    def embed(self, images):
        tokens = self.patch_embed(my_patchify(images, self.config.patch_size))
        return my_encoder_input(tokens, self.class_token, self.pos_embed)

    def forward(self, images, need_weights=False):
        x, weights = self.encoder(self.embed(images))
        return self.head(my_pool(x, self.config.pool)), weights
'''


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


def solved(notebook, *edits):
    """The solution, with each (old, new) edit made (each old text must be there)."""
    source = SOLUTION
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return notebook_cell(source, notebook)


CHECKS = [("check_patchify", "my_patchify"), ("check_vit_input", "my_encoder_input"),
          ("check_vit_pool", "my_pool"), ("check_vit_encoder", "MyEncoder"),
          ("check_vit", "MyViT")]


@pytest.mark.parametrize("check, name", CHECKS)
def test_the_solution_passes(notebook, check, name):
    result = getattr(exercises, check)(solved(notebook)[name])
    assert result.passed, result.message


def test_stubs_are_not_done_yet(notebook):
    notebook_cell('''
        import torch
        from torch import nn

        def my_encoder_input(tokens, class_token, pos_embed):
            return None

        def my_pool(x, pool):
            return None

        class MyEncoder(nn.Module):
            def __init__(self, config):
                super().__init__()

            def forward(self, x):
                return None

        class MyViT(nn.Module):
            def __init__(self, config):
                super().__init__()

            def forward(self, images, need_weights=False):
                return None
    ''', notebook)
    for check, name in CHECKS[1:]:
        result = getattr(exercises, check)(notebook[name])
        assert not result.passed and result.message.startswith("Not done yet"), result.message


def test_a_passing_vit_is_kept_and_handed_out(notebook, capsys):
    result = exercises.check_vit(solved(notebook)["MyViT"])
    assert "Kept as your ViT" in result.message
    mine = yours.piece("ViT")
    assert capsys.readouterr().out == "Your ViT (it passed check_vit).\n"
    assert yours.is_yours(mine)
    text = (yours.yours_dir() / "ViT.py").read_text()
    for needed in ("class MyEncoder", "def my_patchify", "def my_encoder_input", "def my_pool",
                   "from helpers.vit import EncoderBlockWithWeights as EncoderBlock"):
        assert needed in text
    # the course's weights load into the learner's ViT, and it trains as the course's does
    config = helpers.ViTConfig(d_model=16, num_heads=2, d_ff=32, num_layers=1)
    course = helpers.vit.ViT(config)
    model = mine(config)
    model.load_state_dict(course.state_dict())
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(model(x)[0], course(x)[0], atol=1e-5)
    assert model(x, need_weights=True)[1].shape == (4, 1, 2, 17, 17)


def test_without_a_pass_the_course_vit_is_used(notebook, capsys):
    assert yours.piece("ViT") is helpers.vit.ViT
    assert "The course's ViT: yours has not passed check_vit yet." in capsys.readouterr().out


# -- check_vit_input ------------------------------------------------------------------------
CAT = "tokens = torch.cat([class_token.expand(B, -1, -1), tokens], dim=1)"


@pytest.mark.parametrize("edit, named", [
    ((CAT, "tokens = torch.cat([tokens, class_token.expand(B, -1, -1)], dim=1)"), "appended"),
    (("return tokens + pos_embed", "return tokens"), "positions are not added"),
    ((f"{CAT}\n    return tokens + pos_embed",
      "return torch.cat([class_token.expand(B, -1, -1), tokens + pos_embed[:, 1:]], dim=1)\n"
      "    return tokens + pos_embed"), "class token got no position"),
    ((CAT, "tokens = tokens + class_token"), "adding it to the tokens makes no new token"),
    ((CAT, "tokens = torch.cat([class_token, tokens], dim=1)"), "expand it to the batch"),
    (("    if class_token is not None:\n", "    if True:\n"), "class_token=None"),
])
def test_check_vit_input_names_the_mistake(notebook, edit, named):
    result = exercises.check_vit_input(solved(notebook, edit)["my_encoder_input"])
    assert not result.passed and named in result.message, result.message


def test_check_vit_input_says_when_the_class_token_was_added_and_no_token_made(notebook):
    notebook_cell('''
        def my_encoder_input(tokens, class_token, pos_embed):
            return tokens + (0 if class_token is None else class_token)
    ''', notebook)
    result = exercises.check_vit_input(notebook["my_encoder_input"])
    assert not result.passed and "You returned N = 4 tokens" in result.message


# -- check_vit_pool -------------------------------------------------------------------------
@pytest.mark.parametrize("code, named", [
    ("x.mean(dim=1)", "With pool='cls' you averaged the tokens"),
    ("x[:, 1:].mean(dim=1) if pool == 'cls' else x.mean(dim=1)", "averaged the patch tokens"),
    ("x[:, -1] if pool == 'cls' else x.mean(dim=1)", "read the last token"),
    ("x[0] if pool == 'cls' else x.mean(dim=1)", "the first image"),
    ("x[:, :1] if pool == 'cls' else x.mean(dim=1)", "kept a token dimension"),
    ("x[:, 0]", "With pool='mean' you read token 0"),
    ("x[:, 0] if pool == 'cls' else x.mean(dim=0)", "averaged over the batch"),
    ("x[:, 0] if pool == 'cls' else x.mean(dim=-1)", "averaged over the features"),
    ("x[:, 0] if pool == 'cls' else x[:, 1:].mean(dim=1)", "left out token 0"),
])
def test_check_vit_pool_names_the_mistake(notebook, code, named):
    edit = ('return x[:, 0] if pool == "cls" else x.mean(dim=1)', f"return {code}")
    result = exercises.check_vit_pool(solved(notebook, edit)["my_pool"])
    assert not result.passed and named in result.message, result.message


# -- check_vit_encoder ----------------------------------------------------------------------
BLOCKS = "self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.num_layers))"


@pytest.mark.parametrize("edit, named", [
    (("return self.final_norm(x), torch.stack", "return x, torch.stack"),
     "final norm is missing"),
    (("        self.final_norm = nn.LayerNorm(config.d_model, eps=config.norm_eps)\n", ""),
     "no final_norm"),
    (("x, weights = block(x)\n            all_weights", "out, weights = block(x)\n"
      "            last = out\n            all_weights"), "reads the input x"),
    ((BLOCKS, "self.blocks = nn.ModuleList([EncoderBlock(config)] * config.num_layers)"),
     "one block 3 times"),
    (("torch.stack(all_weights, dim=1)", "torch.stack(all_weights, dim=0)"), "stacked along dim 0"),
])
def test_check_vit_encoder_names_the_mistake(notebook, edit, named):
    edits = [edit]
    if "last = out" in edit[1]:  # return what the last block made of the input
        edits.append(("return self.final_norm(x), torch", "return self.final_norm(last), torch"))
    result = exercises.check_vit_encoder(solved(notebook, *edits)["MyEncoder"])
    assert not result.passed and named in result.message, result.message


# -- check_vit ------------------------------------------------------------------------------
PATCHES = "x = x.permute(0, 2, 4, 1, 3, 5)"


@pytest.mark.parametrize("edit, named", [
    ((CAT, "tokens = torch.cat([tokens, class_token.expand(B, -1, -1)], dim=1)"),
     "class token is appended"),
    ((CAT, "tokens = tokens + class_token"), "torch.cat([class token, tokens], dim=1)"),
    (("return tokens + pos_embed", "return tokens"), "positions are not added"),
    (('return x[:, 0] if pool == "cls" else x.mean(dim=1)', "return x.mean(dim=1)"),
     "With pool='cls' your head reads the mean of the tokens"),
    (('return x[:, 0] if pool == "cls" else x.mean(dim=1)',
      'return x[:, -1] if pool == "cls" else x.mean(dim=1)'), "reads the last token"),
    (('return x[:, 0] if pool == "cls" else x.mean(dim=1)', "return x[:, 0]"),
     "With pool='mean' your head reads token 0"),
    (("return self.final_norm(x), torch.stack", "return x, torch.stack"),
     "final norm is missing"),
    ((PATCHES, "x = x.permute(0, 2, 4, 3, 5, 1)"), "flattened (P, P, C)"),
    ((PATCHES, "x = x.permute(0, 4, 2, 1, 3, 5)"), "numbered column by column"),
    ((PATCHES, "x = x.permute(0, 2, 4, 1, 5, 3)"), "transposed"),
    (("x = images.view(B, C, H // P, P, W // P, P)", "return images.reshape(B, -1, C * P * P)"),
     "plain reshape"),
    (('if config.pool == "cls" else None', ""), "With pool='mean' there is no class token"),
    (("self.head = nn.Linear(d, config.num_classes)", "self.classifier = nn.Linear(d, config.num_classes)"),
     "missing head.weight"),
    (("return self.head(my_pool(x, self.config.pool)), weights",
      "return self.head(my_pool(x, self.config.pool)), None"), "weights of every block"),
])
def test_check_vit_names_the_mistake(notebook, edit, named):
    edits = [edit]
    if edit[1] == "":  # pool='mean' would still get N + 1 positions: only the name is checked
        edits.append(("T = config.num_patches + (config.pool == \"cls\")", "T = config.num_patches + 1"))
    if "self.classifier" in edit[1]:
        edits.append(("return self.head(", "return self.classifier("))
    result = exercises.check_vit(solved(notebook, *edits)["MyViT"])
    assert not result.passed and named in result.message, result.message


def test_check_vit_needs_an_embed_method(notebook):
    result = exercises.check_vit(solved(notebook, ("def embed(self,", "def _embed(self,"),
                                        ("self.embed(images)", "self._embed(images)"))["MyViT"])
    assert not result.passed and "needs a method embed(images)" in result.message


def test_check_vit_catches_a_wrong_gradient(notebook):
    # the class token detached: forward is right, its gradient is not
    result = exercises.check_vit(solved(notebook, (CAT, CAT.replace(
        "class_token.expand", "class_token.detach().expand")))["MyViT"])
    assert not result.passed and "gradient of class_token differs" in result.message
