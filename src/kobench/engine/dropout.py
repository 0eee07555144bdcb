"""Dropout on CPU from a quarter of the random draws.

On CPU ``nn.Dropout`` fills a mask with ``bernoulli_``: about 4.5 ns an element from torch's Mersenne Twister,
13 % of a training step of a small BERT here (``benchmarks/README.md``). Every 64-bit word of
``random_`` over the full range holds four independent uniform 16-bit numbers, and a number under
``round(p * 65536)`` drops its element: the same Bernoulli mask at a quarter of the draws, with the drop
probability rounded to a multiple of 1/65,536 (0.1 becomes 0.1000061) and the kept elements scaled by the
inverse of the exact keep probability, so the expected activation is unchanged. The mask is built in float32
(the numbers, exact integers there, shifted and clamped to 0 or 1, times the scale) rather than as a bool tensor:
on CPU every op that mixes a bool tensor with a float one first converts it, so a bool mask cost a conversion in
the forward and another in the backward, each slower than the multiply itself. Draws come from torch's default
generator, so a seeded run repeats. Tensors under 8,192 elements keep ``nn.Dropout``, and CUDA's dropout is fast
already and is left alone.
"""

from __future__ import annotations

import torch

_LEVELS = 1 << 16  # one 16-bit number per element
_LOWEST = -(1 << 15)  # int16's smallest value: numbers run from here over _LEVELS steps
# below this many elements the Python autograd function costs more than the draws it saves (measured: 8,192 is
# about break-even on this project's 2-core CPU, 65,536 elements take half the time); smaller tensors keep nn.Dropout
_SMALLEST = 8192


class _QuarterDrawDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs: torch.Tensor, dropped_levels: int) -> torch.Tensor:  # noqa: ANN001 - autograd's signature
        count = inputs.numel()
        words = torch.empty((count + 3) // 4, dtype=torch.int64, device=inputs.device).random_(-(1 << 63), None)
        numbers = words.view(torch.int16)[:count].view(inputs.shape).to(torch.float32)
        # a number at or above the threshold keeps its element: shifted so that it is >= 1, clamped to exactly 1 or 0
        mask = numbers.sub_(_LOWEST + dropped_levels - 1).clamp_(0, 1).mul_(_LEVELS / (_LEVELS - dropped_levels))
        mask = mask.to(inputs.dtype)  # a no-op in fp32; under bf16 autocast the scale is rounded as torch's own is
        ctx.save_for_backward(mask)
        return inputs * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001 - autograd's signature
        (mask,) = ctx.saved_tensors
        return grad * mask, None


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
        self.dropped_levels = round(p * _LEVELS)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102 - nn.Module's
        if not self.training or self.dropped_levels == 0:
            return inputs
        if inputs.numel() < _SMALLEST:
            return torch.nn.functional.dropout(inputs, self.p, training=True)
        return _QuarterDrawDropout.apply(inputs, self.dropped_levels)

    def extra_repr(self) -> str:  # noqa: D102 - nn.Module's
        return f"p={self.p}"


def use_quarter_draw_dropout(model: torch.nn.Module) -> int:
    """Replace every ``nn.Dropout`` (the exact class, p < 1) of ``model`` in place; return how many.

    Parameters and ``state_dict`` are untouched: checkpoints saved from the model are the same files.
    """
    replaced = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout and child.p < 1.0:
                setattr(module, name, QuarterDrawDropout(child.p))
                replaced += 1
    return replaced
