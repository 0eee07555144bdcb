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


def _attention_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    query, key, value = (torch.randn(3, 2, 40, 16, generator=generator) for _ in range(3))
    lengths = torch.tensor([40, 25, 7])
    mask = (torch.arange(40) < lengths[:, None])[:, None, None, :].expand(3, 1, 40, 40)  # SDPA's bool padding mask
    return query, key, value, mask


class _Attention(torch.nn.Module):  # what the interface reads of a model's attention module
    is_causal = False


def test_cpu_attention_is_sdpa_math_and_sdpa_itself_without_dropout() -> None:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from kobench.engine.dropout import _cpu_sdpa_attention

    query, key, value, mask = _attention_inputs(5)
    module = _Attention().train()
    sdpa, _ = sdpa_attention_forward(module, query, key, value, mask, dropout=0.0, scaling=0.25)
    assert torch.equal(_cpu_sdpa_attention(module, query, key, value, mask, dropout=0.0, scaling=0.25)[0], sdpa)
    # a probability that rounds to no dropped level: the math path itself, against SDPA's kernel
    math, _ = _cpu_sdpa_attention(module, query, key, value, mask, dropout=1e-6, scaling=0.25)
    assert math.shape == sdpa.shape == (3, 40, 2, 16)
    assert torch.allclose(math, sdpa, atol=1e-6)
    additive = torch.zeros(mask.shape).masked_fill_(~mask, torch.finfo(torch.float32).min)
    assert torch.allclose(_cpu_sdpa_attention(module, query, key, value, additive, dropout=1e-6)[0], math, atol=1e-6)


def test_cpu_attention_drops_probabilities_without_bias_and_repeats_when_seeded() -> None:
    from kobench.engine.dropout import _cpu_sdpa_attention

    query, key, value, mask = _attention_inputs(6)
    module = _Attention().train()
    exact, _ = _cpu_sdpa_attention(module, query, key, value, mask, dropout=1e-6)
    torch.manual_seed(7)
    first, _ = _cpu_sdpa_attention(module, query, key, value, mask, dropout=0.3)
    torch.manual_seed(7)
    assert torch.equal(first, _cpu_sdpa_attention(module, query, key, value, mask, dropout=0.3)[0])
    assert not torch.allclose(first, exact, atol=1e-3)  # the probabilities were dropped
    mean = sum(_cpu_sdpa_attention(module, query, key, value, mask, dropout=0.3)[0] for _ in range(400)) / 400
    assert float((mean - exact).abs().mean()) < 0.02 < float((first - exact).abs().mean())  # kept ones rescaled


@pytest.mark.parametrize("family", ["bert", "electra", "roberta", "distilbert"])
def test_every_family_trains_with_it_and_evaluates_and_saves_as_sdpa(family: str, tmp_path) -> None:
    import transformers

    from kobench.engine.dropout import CPU_ATTENTION

    sizes = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
    if family == "distilbert":
        sizes = {"dim": 16, "n_layers": 2, "n_heads": 2, "hidden_dim": 32}
    config = transformers.AutoConfig.for_model(family, vocab_size=60, max_position_embeddings=64, **sizes)
    torch.manual_seed(8)
    model = transformers.AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    plain = transformers.AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa").eval()
    plain.load_state_dict(model.state_dict())
    use_quarter_draw_dropout(model)
    assert model.config._attn_implementation == CPU_ATTENTION
    ids, mask = torch.randint(4, 60, (4, 50)), (torch.arange(50) < torch.tensor([[50], [30], [9], [50]])).long()
    model.train()(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with torch.no_grad():
        evaluated = model.eval()(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(evaluated, plain(input_ids=ids, attention_mask=mask).logits)  # SDPA's, bit for bit
    model.save_pretrained(tmp_path)
    assert "attn" not in (tmp_path / "config.json").read_text()
    assert transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).config._attn_implementation == "sdpa"
