"""Where the time goes: stage labels on the official ``KModel`` and ``KokoroCompleteCoreML``.

Labels are ``torch.profiler.record_function`` ranges opened and closed by module hooks (or by
instance-level method wrappers), so neither model's code changes and a traced graph never sees
them. :func:`profile_stages` runs one call under ``torch.profiler`` and returns exclusive seconds
per stage: ALBERT, text encoders and duration LSTMs, prosody (F0/N), decoder, generator, other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

STAGES = ("ALBERT", "text encoders + LSTMs", "prosody (F0, N)", "decoder", "generator")


@contextlib.contextmanager
def labelled(targets: dict[str, list[Any]]) -> Iterator[None]:
    """Within the block, calls of the given modules or bound methods open a profiler range.

    Args:
        targets: label → list of ``nn.Module`` or ``(object, method_name)`` pairs.
    """
    handles: list[Any] = []
    restored: list[tuple[Any, str]] = []

    for label, items in targets.items():
        for item in items:
            if isinstance(item, torch.nn.Module):
                ranges: list[Any] = []

                def pre(_module, _args, label=label, ranges=ranges):
                    r = torch.profiler.record_function(label)
                    r.__enter__()
                    ranges.append(r)

                def post(_module, _args, _out, ranges=ranges):
                    ranges.pop().__exit__(None, None, None)

                handles.append(item.register_forward_pre_hook(pre))
                handles.append(item.register_forward_hook(post))
            else:
                obj, name = item
                original: Callable = getattr(obj, name)

                def wrapper(*args, _f=original, _label=label, **kwargs):
                    with torch.profiler.record_function(_label):
                        return _f(*args, **kwargs)

                object.__setattr__(obj, name, wrapper)  # instance attribute shadows the method
                restored.append((obj, name))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for obj, name in restored:
            object.__delattr__(obj, name)


def official_targets(model) -> dict[str, list[Any]]:
    """Stage labels for ``kokoro.KModel``."""
    return {
        "ALBERT": [model.bert, model.bert_encoder],
        "text encoders + LSTMs": [model.predictor.text_encoder, model.predictor.lstm, model.text_encoder],
        "prosody (F0, N)": [(model.predictor, "F0Ntrain")],
        "decoder": [model.decoder],
        "generator": [model.decoder.generator],
    }


def lab_targets(module) -> dict[str, list[Any]]:
    """Stage labels for ``KokoroCompleteCoreML`` (padded and trimmed paths)."""
    return {
        "ALBERT": [module.bert, module.bert_encoder],
        "text encoders + LSTMs": [module.predictor_text_encoder, module.text.lstm, module.text_encoder],
        "prosody (F0, N)": [(module.acoustic, "prosody")],
        "decoder": [(module.acoustic, "decoder_features")],
        "generator": [module.generator, module.acoustic._unmasked_generator[0]],
    }


def profile_stages(fn: Callable[[], Any], targets: dict[str, list[Any]]) -> dict[str, float]:
    """Run ``fn`` once under the profiler. → exclusive seconds per stage, ``other`` and ``total``.

    A stage nested in another (KModel's generator runs inside its decoder) is subtracted from
    the outer one.
    """
    import time

    with labelled(targets), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fn()
        total = time.perf_counter() - start
    events = [e for e in prof.events() if e.name in targets]
    inclusive = {label: 0.0 for label in targets}
    for e in events:
        inclusive[e.name] += e.time_range.elapsed_us() / 1e6
    # exclusive: subtract each labelled range from the smallest labelled range around it
    exclusive = dict(inclusive)
    for inner in events:
        around = [
            o
            for o in events
            if o is not inner
            and o.time_range.start <= inner.time_range.start
            and inner.time_range.end <= o.time_range.end
            and o.time_range.elapsed_us() > inner.time_range.elapsed_us()
        ]
        if around:
            parent = min(around, key=lambda o: o.time_range.elapsed_us())
            exclusive[parent.name] -= inner.time_range.elapsed_us() / 1e6
    result = {label: max(0.0, exclusive[label]) for label in targets}
    result["other"] = max(0.0, total - sum(result.values()))
    result["total"] = total
    return result


__all__ = ["STAGES", "labelled", "lab_targets", "official_targets", "profile_stages"]
