"""Padding-exact building blocks: Kokoro's AdaIN blocks evaluated on padded tensors.

A CoreML model has fixed shapes, so a short utterance is padded. Kokoro's original modules see
only the valid frames; to compute exactly the same values at any padding, the rewrite must

* compute InstanceNorm statistics over valid frames only,
* zero the padded frames before every convolution (the original sees zero padding there), and
* keep track of the valid length through each upsampling.

The functions take the original ``kokoro`` modules and use their weights in place.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 1, size] float mask, 1 where ``t < lengths[b]``."""
    t = torch.arange(size, device=lengths.device).view(1, 1, -1)
    return (t < lengths.view(-1, 1, 1)).to(torch.float32)


def masked_instance_norm(norm: torch.nn.InstanceNorm1d, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``norm(x)`` with statistics over the valid frames only. x [B, C, T], mask [B, 1, T]."""
    n = mask.sum(dim=-1, keepdim=True).clamp(min=1.0)  # [B, 1, 1]
    # Scale before summing: a plain sum over thousands of frames overflows float16 (65,504).
    mean = (x * (mask / n)).sum(dim=-1, keepdim=True)  # [B, C, 1]
    centred = x - mean  # [B, C, T]
    dev = centred * (mask * torch.rsqrt(n))  # [B, C, T], so that Σ dev² is the variance
    if in_place_ok():  # the same ops on fresh temporaries: the same bits, fewer allocations
        var = dev.pow_(2).sum(dim=-1, keepdim=True)
        y = centred.mul_(torch.rsqrt(var + norm.eps))
        return y.mul_(norm.weight.view(1, -1, 1)).add_(norm.bias.view(1, -1, 1)) if norm.affine else y
    var = (dev**2).sum(dim=-1, keepdim=True)  # biased, as InstanceNorm
    y = centred * torch.rsqrt(var + norm.eps)
    if norm.affine:
        y = y * norm.weight.view(1, -1, 1) + norm.bias.view(1, -1, 1)
    return y


def in_place_ok() -> bool:
    """Whether eager code may overwrite its own temporaries: not tracing, no autograd.

    In-place ops run the same kernels as their out-of-place forms, so the values are bit for bit
    the same; they only save the allocation (and page faults) of a fresh tensor per op. The
    traced graph keeps the out-of-place ops CoreML needs.
    """
    return not torch.jit.is_tracing() and not torch.is_grad_enabled()


def adain(block, x: torch.Tensor, s: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """kokoro's ``AdaIN1d``: ``(1 + gamma(s)) * norm(x) + beta(s)``, masked when ``mask`` is given."""
    h = block.fc(s).unsqueeze(-1)  # [B, 2C, 1]
    gamma, beta = torch.chunk(h, chunks=2, dim=1)
    normed = block.norm(x) if mask is None else masked_instance_norm(block.norm, x, mask)
    if in_place_ok():  # normed is a fresh tensor: reuse it
        return normed.mul_(1 + gamma).add_(beta)
    return (1 + gamma) * normed + beta


def snake(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Snake activation ``x + sin²(αx) / α``; overwrites ``x`` when :func:`in_place_ok`. x [B, C, T]."""
    if in_place_ok():
        t = torch.mul(alpha, x).sin_().pow_(2).mul_(1 / alpha)  # one temporary instead of four
        return x.add_(t)
    return x + (1 / alpha) * (torch.sin(alpha * x) ** 2)


def _zero(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


def upsample_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Valid-frame mask after a ×2 nearest upsampling."""
    return None if mask is None else F.interpolate(mask, scale_factor=2, mode="nearest")


def adain_resblk1d(block, x: torch.Tensor, s: torch.Tensor, mask: torch.Tensor | None):
    """kokoro's ``AdainResBlk1d`` (decoder and F0/N blocks). Returns ``(out, out_mask)``.

    x [B, C_in, T] → out [B, C_out, T], or [B, C_out, 2T] for an upsampling block.
    """
    up = block.upsample_type != "none"
    out_mask = upsample_mask(mask) if up else mask
    r = block.actv(adain(block.norm1, x, s, mask))
    if up:
        r = block.pool(_zero(r, mask))  # depthwise ConvTranspose, stride 2: [B, C_in, 2T]
    r = block.conv1(_zero(r, out_mask))
    r = block.actv(adain(block.norm2, r, s, out_mask))
    r = block.conv2(_zero(r, out_mask))
    shortcut = block.upsample(x)
    if block.learned_sc:
        shortcut = block.conv1x1(shortcut)
    out = (r + shortcut) / math.sqrt(2)  # as kokoro's AdainResBlk1d (a Python float, not a traced constant)
    return _zero(out, out_mask), out_mask


def adain_resblock1(block, x: torch.Tensor, s: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """kokoro's ``AdaINResBlock1`` (generator residual blocks with Snake activations)."""
    for c1, c2, n1, n2, a1, a2 in zip(
        block.convs1, block.convs2, block.adain1, block.adain2, block.alpha1, block.alpha2, strict=True
    ):
        xt = snake(adain(n1, x, s, mask), a1)  # adain returns a fresh tensor: snake may reuse it
        xt = c1(_zero(xt, mask))
        xt = snake(adain(n2, xt, s, mask), a2)
        xt = c2(_zero(xt, mask))
        x = xt.add_(x) if in_place_ok() else xt + x  # xt is the conv's fresh output
    return _zero(x, mask)
