"""The training loop learns, records what it promises, and refuses bad input."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import helpers  # noqa: E402
from helpers.tasks import reverse_task  # noqa: E402


def linearly_separable(n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g)
    return X, (X[:, 0] + X[:, 1] > 0).long()


def test_fit_learns_and_records_history():
    helpers.seed_everything(0)
    model = nn.Linear(4, 2)
    history = helpers.fit(model, linearly_separable(256, 0), linearly_separable(256, 1),
                          steps=60, lr=0.1, eval_every=20, progress=False)
    assert history.step == list(range(1, 61)) and history.val_step == [20, 40, 60]
    assert history.loss[-1] < history.loss[0] / 3
    assert history.val_acc[-1] > 0.95
    assert "held-out accuracy" in history.summary()
    assert len(helpers.plot_history(history).axes) == 2


def test_fit_regression_and_minibatches():
    helpers.seed_everything(0)
    X = torch.randn(128, 3)
    Y = X @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = nn.Linear(3, 1)
    history = helpers.fit(model, (X, Y), (X, Y), steps=200, lr=0.05, batch_size=32,
                          loss="mse", progress=False)
    assert history.val_loss[-1] < 1e-3 and history.val_acc == []


def test_fit_passes_a_tuple_of_inputs_to_the_model():
    helpers.seed_everything(0)
    a, b = torch.randn(256, 2), torch.randn(256, 2)
    y = ((a + b).sum(-1) > 0).long()

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2)

        def forward(self, a, b):
            return self.linear(torch.cat([a, b], -1))

    history = helpers.fit(TwoInputs(), ((a, b), y), ((a, b), y), steps=80, lr=0.1,
                          batch_size=64, progress=False)
    assert history.val_acc[-1] > 0.95
    with pytest.raises(ValueError, match=r"got X \(256, 2\), \(256, 2\), Y \(9\)"):
        helpers.fit(TwoInputs(), ((a, b), y[:9]))


def test_fit_rejects_bad_input():
    X = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"same number of examples: got X \(10, 4\), Y \(9\)"):
        helpers.fit(nn.Linear(4, 2), (X, torch.zeros(9, dtype=torch.long)))
    with pytest.raises(ValueError, match="loss must be"):
        helpers.fit(nn.Linear(4, 2), (X, torch.zeros(10, dtype=torch.long)), loss="hinge")


def test_accuracy_skips_ignored_targets_like_cross_entropy():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.8, 0.2]])
    assert helpers.accuracy(logits, torch.tensor([1, -100, 1])) == 0.5
    with pytest.raises(ValueError, match="nothing to score"):
        helpers.accuracy(logits, torch.full((3,), -100))


def test_accuracy_checks_shapes():
    assert helpers.accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError, match=r"got logits \(2, 2\), targets \(3\)"):
        helpers.accuracy(torch.zeros(2, 2), torch.zeros(3, dtype=torch.long))



@pytest.mark.parametrize("name", ["GPT", "EncoderDecoder"])
def test_models_train_through_the_fast_attention_path(name):
    """fit calls model(x): the fused kernel runs and no attention weights are stored."""
    from helpers.decoder import EncoderDecoder, Seq2SeqConfig
    from helpers.gpt import GPT, GPTConfig
    from helpers.multihead import MultiHeadAttention

    helpers.seed_everything(0)
    X, Y = reverse_task(16, length=6, vocab_size=8)
    if name == "GPT":
        model, inputs = GPT(GPTConfig(vocab_size=8, block_size=8, d_model=16, num_layers=1)), (X,)
    else:
        model = EncoderDecoder(Seq2SeqConfig(src_vocab=8, tgt_vocab=8, d_model=16, num_layers=1))
        inputs = (X, Y)  # source, target so far
    model(*inputs, need_weights=True)
    attention = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    assert all(m.attn_weights is not None for m in attention)
    helpers.fit(model, (inputs, Y), (inputs, Y), steps=2, progress=False)
    assert all(m.attn_weights is None for m in attention)


def test_warm_up_then_cosine_decay():
    from helpers.training import learning_rate_factor

    factors = [learning_rate_factor(s, 10, warmup=4, decay="cosine") for s in range(1, 11)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]  # linear warm-up to the base rate
    assert all(a > b for a, b in zip(factors[3:], factors[4:])) and factors[-1] == 0.0
    assert [learning_rate_factor(s, 10) for s in (1, 10)] == [1.0, 1.0]  # no schedule


def test_fit_follows_the_schedule_and_rejects_bad_ones():
    model = torch.nn.Linear(2, 1)
    rates = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        helpers.fit(model, (torch.randn(8, 2), torch.randn(8, 1)), steps=4, lr=0.1, loss="mse",
                    warmup=2, decay="cosine", progress=False)
    finally:
        torch.optim.AdamW.step = original
    assert [round(lr, 3) for lr in rates] == [0.05, 0.1, 0.05, 0.0]
    with pytest.raises(ValueError, match="warmup must be an int from 0 to steps - 1 = 3, got 4"):
        helpers.fit(model, (torch.randn(8, 2), torch.randn(8, 1)), steps=4, warmup=4, loss="mse")
    with pytest.raises(ValueError, match="decay must be None or 'cosine', got 'linear'"):
        helpers.fit(model, (torch.randn(8, 2), torch.randn(8, 1)), steps=4, decay="linear",
                    loss="mse")
