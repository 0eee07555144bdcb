"""Dropout on CPU from a quarter of the random draws.

On CPU ``nn.Dropout`` fills a mask with ``bernoulli_``: about 4.5 ns an element from torch's Mersenne Twister,
13 % of a training step of a small BERT here (``benchmarks/README.md``). Every 64-bit word of
``random_`` over the full range holds four independent uniform 16-bit numbers, and a number under
``round(p * 65536)`` drops its element: the same Bernoulli mask at a quarter of the draws, with the drop
probability rounded to a multiple of 1/65,536 (0.1 becomes 0.1000061) and the kept elements scaled by the
inverse of the exact keep probability, so the expected activation is unchanged. The mask is built in float32
(the numbers, exact integers there, shifted and clamped to 0 or 1, times the scale) rather than as a bool tensor:
on CPU every op that mixes a bool tensor with a float one first converts it, so a bool mask cost a conversion in
the forward and another in the backward, each slower than the multiply itself. The mask is applied as a plain
product, so the backward is autograd's own multiply, with no Python function to call. Draws come from torch's default
generator, so a seeded run repeats. Tensors under 8,192 elements keep ``nn.Dropout``, and CUDA's dropout is fast
already and is left alone.

Attention's own dropout is not an ``nn.Dropout`` call: the models pass its probability to scaled-dot-product
attention, which on CPU then takes its math path and draws the mask over the attention probabilities with
``bernoulli_``. ``use_quarter_draw_dropout`` therefore also switches an SDPA model to ``kobench_cpu_sdpa``: the same
math (scores, mask, softmax, dropout, values) with the quarter-draw mask while training, and SDPA itself, mask and
all, whenever no dropout is asked for (evaluation), so evaluated outputs are SDPA's bit for bit.
"""

from __future__ import annotations

import torch

_LEVELS = 1 << 16  # one 16-bit number per element
_LOWEST = -(1 << 15)  # int16's smallest value: numbers run from here over _LEVELS steps
# below this many elements building the mask costs more than the draws it saves (measured: 8,192 is about
# break-even on this project's 2-core CPU, 65,536 elements take half the time); smaller tensors keep nn.Dropout
_SMALLEST = 8192


def _quarter_draw_mask(inputs: torch.Tensor, dropped_levels: int) -> torch.Tensor:
    """A dropout mask for ``inputs``: the keep scale where an element stays, 0 where it is dropped (no gradient)."""
    count = inputs.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=inputs.device).random_(-(1 << 63), None)
    numbers = words.view(torch.int16)[:count].view(inputs.shape).to(torch.float32)
    # a number at or above the threshold keeps its element: shifted so that it is >= 1, clamped to exactly 1 or 0
    mask = numbers.sub_(_LOWEST + dropped_levels - 1).clamp_(0, 1).mul_(_LEVELS / (_LEVELS - dropped_levels))
    return mask.to(inputs.dtype)  # a no-op in fp32; a bf16 or fp16 input gets its mask in its own dtype


def quarter_draw_dropout(inputs: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of ``inputs`` with drop probability ``p`` from a quarter of the draws."""
    dropped_levels = round(p * _LEVELS)
    if dropped_levels == 0:
        return inputs
    if inputs.numel() < _SMALLEST:
        return torch.nn.functional.dropout(inputs, p, training=True)
    # a plain product: autograd's own multiply backward (grad times the saved mask), no Python backward to call
    return inputs * _quarter_draw_mask(inputs, dropped_levels)


class QuarterDrawDropout(torch.nn.Module):
    """``nn.Dropout(p)`` in training, the identity in evaluation.

    ``p`` is kept for models that read it: BERT's attention passes ``self.dropout.p`` on to scaled-dot-product
    attention, which draws its own mask.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is outside [0, 1)")
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102 - nn.Module's
        if not self.training:
            return inputs
        return quarter_draw_dropout(inputs, self.p)

    def extra_repr(self) -> str:  # noqa: D102 - nn.Module's
        return f"p={self.p}"


def use_quarter_draw_dropout(model: torch.nn.Module) -> int:
    """Replace every ``nn.Dropout`` (the exact class, p < 1) of ``model`` in place; return how many.

    A model whose attention is SDPA also gets ``kobench_cpu_sdpa`` (module docstring), so that attention's dropout
    takes the quarter draws too. Parameters and ``state_dict`` are untouched, and the attention implementation is
    not written to ``config.json``: checkpoints saved from the model are the same files.
    """
    replaced = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout and child.p < 1.0:
                setattr(module, name, QuarterDrawDropout(child.p))
                replaced += 1
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa" and hasattr(model, "set_attn_implementation"):
        _register_attention()
        model.set_attn_implementation(CPU_ATTENTION)
    return replaced


CPU_ATTENTION = "kobench_cpu_sdpa"


def _register_attention() -> None:
    """Make ``CPU_ATTENTION`` known to transformers, with SDPA's masks (a bool mask, or none when nothing is padded)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(CPU_ATTENTION, _cpu_sdpa_attention)
    AttentionMaskInterface.register(CPU_ATTENTION, sdpa_mask)


def _cpu_sdpa_attention(  # noqa: PLR0913 - transformers' attention interface
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """SDPA's math path with the quarter-draw dropout; SDPA itself when there is no dropout to draw."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0.0 or kwargs.get("is_causal") or getattr(module, "is_causal", False):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scores = torch.matmul(query, key.transpose(2, 3)).mul_(query.shape[-1] ** -0.5 if scaling is None else scaling)
    if attention_mask is not None and attention_mask.dtype == torch.bool:  # SDPA's: True where a query may attend
        scores.masked_fill_(attention_mask.logical_not(), float("-inf"))
    elif attention_mask is not None:  # an additive float mask
        scores.add_(attention_mask)
    probabilities = quarter_draw_dropout(torch.softmax(scores, dim=-1), dropout)
    return torch.matmul(probabilities, value).transpose(1, 2).contiguous(), None
