"""New phoneme tokens for Kokoro: grow the embeddings, start each new row from its nearest symbol.

Mapping a sound Kokoro lacks onto its nearest neighbour (:mod:`.new_language`) merges two sounds
for good. A new token keeps them apart, at the price of fine-tuning: the model has never seen it.
Only two tensors in ``kokoro.KModel`` are indexed by token id (every other parameter sees the
tokens through them): ALBERT's ``bert.embeddings.word_embeddings`` [n_token, 128] and the text
encoder's ``text_encoder.embedding`` [n_token, 512]. :func:`extend_vocabulary` appends one row to
each per new symbol, a copy of the row of the symbol it is nearest to, so the extended model
starts out saying the new token exactly as it says that symbol and every existing token is
untouched (its rows and ids do not move). ``bert.config.vocab_size`` and ``model.vocab`` follow.

An extended model no longer matches Kokoro's checkpoint, so :func:`save_extended_model` writes the
whole state with its config (``n_token``, ``vocab``) and a checksum, atomically, and
:func:`load_extended_model` builds a ``KModel`` of the right size and loads it strictly.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..config import REPO_ID, load_config
from ..torch_files import CorruptFileError, check_format, load_torch_file, save_torch_file, tensor_checksum
from .model import trainable_copy
from .new_language import NEW_SOUNDS

# The token-indexed embeddings of kokoro.KModel, by module path; each has n_token rows.
TOKEN_EMBEDDINGS = ("bert.embeddings.word_embeddings", "text_encoder.embedding")
EXTENDED_FORMAT = "kokoro_lab.finetune.vocab_extension"
EXTENDED_VERSION = 1
FIX = "save the extended model again"


class VocabularyError(ValueError):
    """A new symbol cannot be added: already present, not one character, or its source is unknown."""


def n_tokens(model: nn.Module) -> int:
    """Rows of the model's token embeddings (178 for Kokoro-82M; ids 0..n_tokens-1 are valid).

    Raises:
        RuntimeError: the two embeddings disagree, or another parameter is indexed by token id
            (a kokoro version this module does not know how to grow).
    """
    sizes = {name: model.get_submodule(name).num_embeddings for name in TOKEN_EMBEDDINGS}
    if len(set(sizes.values())) != 1:
        raise RuntimeError(f"The token embeddings disagree on the vocabulary size: {sizes}.")
    n = next(iter(sizes.values()))
    expected = {f"{name}.weight" for name in TOKEN_EMBEDDINGS}
    others = [name for name, p in model.named_parameters() if n in p.shape and name not in expected]
    if others:
        raise RuntimeError(
            f"Parameters other than {sorted(expected)} have a dimension of {n}, one per token id: "
            f"{others}; they would need growing too."
        )
    return n


def _check(vocab: dict[str, int], new_symbols: dict[str, str], n: int) -> None:
    if not new_symbols:
        raise VocabularyError("No new symbols given; pass {new symbol: existing symbol to start from}.")
    if max(vocab.values()) >= n:
        raise VocabularyError(
            f"The vocabulary uses id {max(vocab.values())} but the model has {n} token rows; "
            "pass the model's own vocabulary (model.vocab)."
        )
    for symbol, source in new_symbols.items():
        if not isinstance(symbol, str) or len(symbol) != 1:
            raise VocabularyError(
                f"New symbol {symbol!r} is not a single character; Kokoro tokenizes one character at a "
                "time, so add each character separately (or map the sequence, see new_language.to_kokoro)."
            )
        if symbol in vocab:
            raise VocabularyError(f"Symbol {symbol!r} is already in the vocabulary (id {vocab[symbol]}).")
        if source not in vocab:
            raise VocabularyError(
                f"Source symbol {source!r} for {symbol!r} is not in the vocabulary; new rows start from "
                "an existing symbol (one character of model.vocab)."
            )


def _grown(embedding: nn.Embedding, sources: list[int]) -> nn.Embedding:
    """A copy of ``embedding`` with rows ``sources`` appended: [n, d] → [n + len(sources), d]."""
    weight = embedding.weight
    grown = nn.Embedding(
        embedding.num_embeddings + len(sources),
        embedding.embedding_dim,
        padding_idx=embedding.padding_idx,
        max_norm=embedding.max_norm,
        norm_type=embedding.norm_type,
        scale_grad_by_freq=embedding.scale_grad_by_freq,
        sparse=embedding.sparse,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        grown.weight.copy_(torch.cat([weight, weight[sources]]))  # [n + k, d]
    grown.weight.requires_grad_(weight.requires_grad)
    grown.train(embedding.training)
    return grown


def extend_vocabulary(
    model: nn.Module, vocab: dict[str, int], new_symbols: dict[str, str] | None = None
) -> tuple[nn.Module, dict[str, int]]:
    """A copy of ``model`` with new tokens whose embedding rows start as copies of existing ones.

    Args:
        model: a ``kokoro.KModel``; it is not modified.
        vocab: its vocabulary, symbol → id (``model.vocab``, or ``original.text.vocab()``).
        new_symbols: new symbol → the existing symbol its rows are copied from, e.g.
            ``{"ʀ": "ʁ"}``; by default :data:`.new_language.NEW_SOUNDS` (Luxembourgish).

    Returns:
        ``(extended model, extended vocabulary)``: new ids follow the last row (178, 179, ... for
        Kokoro-82M) in the order of ``new_symbols``; the model's ``vocab`` is the new vocabulary.

    Raises:
        VocabularyError: a symbol is already in ``vocab``, is not one character, or its source is
            not in ``vocab``; or ``vocab`` does not match ``model.vocab``.
    """
    new_symbols = dict(NEW_SOUNDS if new_symbols is None else new_symbols)
    if getattr(model, "vocab", vocab) != vocab:
        raise VocabularyError("vocab is not the model's vocabulary (model.vocab); pass model.vocab.")
    n = n_tokens(model)
    _check(vocab, new_symbols, n)
    sources = [vocab[source] for source in new_symbols.values()]
    extended_vocab = dict(vocab) | {symbol: n + i for i, symbol in enumerate(new_symbols)}

    clone = trainable_copy(model)
    for p, q in zip(model.parameters(), clone.parameters(), strict=True):
        q.requires_grad_(p.requires_grad)  # as the original, not all trainable
    clone.bert.set_input_embeddings(_grown(clone.bert.get_input_embeddings(), sources))
    clone.bert.config.vocab_size = n + len(sources)
    clone.text_encoder.embedding = _grown(clone.text_encoder.embedding, sources)
    clone.vocab = extended_vocab
    n_tokens(clone)  # nothing else was indexed by token id
    return clone, dict(extended_vocab)


def _state(model: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """The state in Kokoro's checkpoint layout: top-level module → its ``state_dict``."""
    return {name: dict(module.state_dict()) for name, module in model.named_children()}


def _flat(state: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{top}.{key}": t for top, tensors in state.items() for key, t in tensors.items()}


def save_extended_model(path: str | os.PathLike, model: nn.Module, overwrite: bool = True) -> Path:
    """Write every tensor of an extended ``KModel``, its config and a checksum to ``path`` atomically.

    The config is Kokoro-82M's with ``n_token`` and ``vocab`` (``model.vocab``) replaced.
    """
    from kokoro.custom_stft import CustomSTFT

    n = n_tokens(model)
    if max(model.vocab.values()) >= n:
        raise VocabularyError(f"model.vocab uses ids beyond the model's {n} token rows.")
    state = _state(model)
    payload = {
        "format": EXTENDED_FORMAT,
        "version": EXTENDED_VERSION,
        "config": load_config() | {"n_token": n, "vocab": dict(model.vocab)},
        "disable_complex": isinstance(model.decoder.generator.stft, CustomSTFT),  # the STFT to rebuild
        "state": state,
        "state_sha256": tensor_checksum(_flat(state)),
    }
    return save_torch_file(payload, path, overwrite)


def load_extended_model(path: str | os.PathLike) -> tuple[nn.Module, dict[str, int]]:
    """Build a ``kokoro.KModel`` with the saved ``n_token`` and load the tensors of ``path`` strictly.

    Returns:
        ``(model in eval mode, its vocabulary)``.

    Raises:
        FileNotFoundError: no file. CorruptFileError: unreadable, of another kind, or damaged.
    """
    from kokoro import KModel

    ckpt = load_torch_file(path, "extended Kokoro model", FIX)
    check_format(ckpt, path, "extended Kokoro model", EXTENDED_FORMAT, EXTENDED_VERSION, FIX)
    if tensor_checksum(_flat(ckpt["state"])) != ckpt.get("state_sha256"):
        raise CorruptFileError(f"The tensors in {path} fail their checksum (damaged file); {FIX}.")
    config = ckpt["config"]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # KModel always reads weights from a file: an empty one leaves its random initialisation,
        # which the strict loads below overwrite entirely.
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        warnings.simplefilter("ignore", FutureWarning)  # kokoro's weight_norm deprecation
        warnings.filterwarnings("ignore", "dropout option adds dropout", UserWarning)
        model = KModel(
            repo_id=REPO_ID,
            config=config | {"vocab": dict(config["vocab"])},
            model=str(empty),
            disable_complex=bool(ckpt["disable_complex"]),
        )
    for top, state in ckpt["state"].items():
        getattr(model, top).load_state_dict(state, strict=True)
    return model.eval(), dict(model.vocab)
