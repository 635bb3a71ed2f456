"""The fixed-shape models' token inputs: padding phoneme ids, and the error that names the fix."""

from __future__ import annotations

import torch


class InputError(ValueError):
    """Inputs that a fixed-shape model cannot take; the message names the fix."""


def pad_inputs(token_ids, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Phoneme token ids (without boundaries) → ``input_ids``, ``attention_mask`` [1, max_tokens] int32.

    The 0 boundaries are added at both ends, as ``KModel`` does; zeros fill the rest.
    """
    ids = [int(i) for i in token_ids]
    if not ids:
        raise InputError("No tokens to synthesize; the text produced no phonemes.")
    if len(ids) + 2 > max_tokens:
        raise InputError(
            f"{len(ids)} tokens + 2 boundaries do not fit MAX_TOKENS = {max_tokens}; "
            "use a larger bucket or split the text."
        )
    input_ids = torch.zeros(1, max_tokens, dtype=torch.int32)
    input_ids[0, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.int32)
    attention_mask = (torch.arange(max_tokens) < len(ids) + 2).to(torch.int32).unsqueeze(0)
    return input_ids, attention_mask
