"""The CPU dropout (engine/dropout.py) is nn.Dropout's distribution, gradient and switch, from fewer draws."""

from __future__ import annotations

import pytest
import torch

from kobench.engine.dropout import QuarterDrawDropout, use_quarter_draw_dropout


def test_drop_rate_and_scale_are_dropouts() -> None:
    torch.manual_seed(0)
    layer = QuarterDrawDropout(0.1).train()
    out = layer(torch.ones(2_000_000))
    dropped = float((out == 0).float().mean())
    keep_scale = 65536 / (65536 - round(0.1 * 65536))
    assert abs(dropped - 0.1) < 0.0015  # 2,000,000 draws: 7 standard errors
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], keep_scale))
    assert abs(float(out.mean()) - 1.0) < 0.002  # the expectation is kept


def test_masks_are_independent_across_the_four_numbers_of_a_word() -> None:
    torch.manual_seed(1)
    dropped = (QuarterDrawDropout(0.5).train()(torch.ones(4_000_000)) == 0).view(-1, 4).float()
    both = (dropped[:, 0] * dropped[:, 1]).mean()  # P(both dropped) = 0.25 when independent
    assert abs(float(both) - 0.25) < 0.002
    assert all(abs(float(column.mean()) - 0.5) < 0.002 for column in dropped.T)


def test_gradient_passes_the_kept_elements_scaled_and_nothing_else() -> None:
    torch.manual_seed(2)
    x = torch.randn(128, 80, requires_grad=True)  # over 8,192 elements: the quarter-draw path
    out = QuarterDrawDropout(0.3).train()(x)
    out.sum().backward()
    kept = out.detach() != 0
    scale = 65536 / (65536 - round(0.3 * 65536))
    assert torch.equal(x.grad[~kept], torch.zeros_like(x.grad[~kept]))
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], scale))


def test_seeded_runs_repeat_and_evaluation_is_the_identity() -> None:
    x = torch.randn(50, 7, 30)
    layer = QuarterDrawDropout(0.2).train()
    torch.manual_seed(3)
    first = layer(x)
    torch.manual_seed(3)
    assert torch.equal(first, layer(x))
    assert layer.eval()(x) is x
    assert QuarterDrawDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match="outside"):
        QuarterDrawDropout(1.0)


def test_small_tensors_take_torchs_own_dropout() -> None:
    x = torch.randn(8191)  # under the size where the quarter draws pay
    layer = QuarterDrawDropout(0.1).train()
    torch.manual_seed(4)
    ours = layer(x)
    torch.manual_seed(4)
    assert torch.equal(ours, torch.nn.functional.dropout(x, 0.1, training=True))


def test_a_bert_gets_it_everywhere_and_its_state_dict_is_unchanged() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    model = BertForSequenceClassification(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = sum(type(m) is torch.nn.Dropout for m in model.modules())
    assert use_quarter_draw_dropout(model) == plain == 8  # embeddings, 3 per layer (one is attention's p), classifier
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    ids = torch.randint(0, 50, (3, 6))
    model.train()(input_ids=ids, labels=torch.tensor([0, 1, 0])).loss.backward()  # attention reads .p: still runs
    model.eval()
    with torch.no_grad():
        fresh = BertForSequenceClassification(config).eval()
        fresh.load_state_dict(model.state_dict())
        assert torch.allclose(model(input_ids=ids).logits, fresh(input_ids=ids).logits)
