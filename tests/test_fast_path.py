"""The eager fast path (``trim=True``) and the eager-only shortcuts keep the results of the padded model."""

import pytest
import torch
from conftest import UTTERANCES

from kokoro_lab import load_kmodel
from kokoro_lab.quality import log_mel_distance
from kokoro_lab.rewrite.masking import adain_resblock1
from kokoro_lab.rewrite.model import KokoroCompleteCoreML, pad_inputs
from kokoro_lab.rewrite.sine_source import no_source_noise
from kokoro_lab.rewrite.text_encoders import bilstm


@pytest.fixture(scope="module")
def complex_free():
    model, _ = load_kmodel(disable_complex=True)
    return model


def run(module, tokens, ref_s):
    input_ids, mask = pad_inputs(tokens, module.max_tokens)
    with torch.inference_mode():
        return module(input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))


@pytest.mark.parametrize("voice", ["jf_alpha", "jm_kumo"])
def test_trimmed_equals_padded_and_matches_official(kmodel, complex_free, utterance, voice):
    ids, ref_s, tokens = utterance(UTTERANCES[1], voice)
    with no_source_noise(), torch.inference_mode():
        reference, ref_dur = kmodel[0].forward_with_tokens(ids, ref_s, 1.0)
    F = int(ref_dur.sum())
    max_tokens, max_frames = 2 * ids.shape[1], 2 * F  # half of each axis is padding
    padded = run(KokoroCompleteCoreML(complex_free, max_tokens, max_frames).eval(), tokens, ref_s)
    trimmed = run(KokoroCompleteCoreML(complex_free, max_tokens, max_frames, trim=True).eval(), tokens, ref_s)
    for p, t in zip(padded, trimmed, strict=True):
        assert p.shape == t.shape and p.dtype == t.dtype
    assert torch.equal(padded[1], trimmed[1]) and torch.equal(padded[3], trimmed[3])
    assert torch.equal(padded[2], trimmed[2]), "durations must be identical"
    assert torch.equal(trimmed[2][0, : ids.shape[1]].long(), ref_dur.long())
    n = int(trimmed[1])
    assert n == reference.numel()
    audio = trimmed[0].reshape(-1)
    assert (audio[n:] == 0).all()
    to_official = log_mel_distance(audio[:n].numpy(), reference.reshape(-1).numpy())
    to_padded = log_mel_distance(audio[:n].numpy(), padded[0].reshape(-1)[:n].numpy())
    print(f"{voice}: log-mel L1 trimmed vs official {to_official:.3f} dB, vs padded {to_padded:.3f} dB")
    assert to_official <= 1.0 and to_padded <= 1.0  # the tolerance of the whole-pipeline parity test


def test_trimmed_reports_overflow_like_padded(complex_free, utterance):
    _, ref_s, tokens = utterance(UTTERANCES[0])
    outs = [
        run(KokoroCompleteCoreML(complex_free, len(tokens) + 6, 30, trim=trim).eval(), tokens, ref_s)
        for trim in (False, True)
    ]
    (pa, pl, pd, po), (ta, tl, td, to) = outs
    assert po.item() > 0 and torch.equal(po, to), "both must report the frames that did not fit"
    assert pl.item() == tl.item() == 30 * 600 and torch.equal(pd, td)
    assert ta.shape == pa.shape


def test_trim_changes_neither_the_traced_graph_nor_the_state(complex_free):
    modules = [KokoroCompleteCoreML(complex_free, 16, 60, trim=trim).eval() for trim in (False, True)]
    assert list(modules[0].state_dict()) == list(modules[1].state_dict())
    input_ids, mask = pad_inputs([50, 83, 156, 43], 16)
    inputs = (input_ids, torch.zeros(1, 256), torch.zeros(1, 9), mask, torch.ones(1))
    graphs = []
    for m in modules:
        with torch.no_grad():
            traced = torch.jit.trace(m, inputs, check_trace=False)
        nodes = [n.kind() for n in traced.inlined_graph.nodes()]
        graphs.append(nodes)
        assert nodes.count("aten::lstm") == 12
        assert [i.debugName().split(".")[0] for i in list(traced.graph.inputs())[1:]] == [
            "input_ids",
            "ref_s",
            "random_phases",
            "attention_mask",
            "speed",
        ]
    assert graphs[0] == graphs[1]


class BiLSTM(torch.nn.Module):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def forward(self, x, lengths):
        return bilstm(self.lstm, x, lengths)


def test_unpadded_bilstm_shortcut_is_bit_identical_to_the_traced_two_pass(complex_free):
    module = BiLSTM(complex_free.text_encoder.lstm).eval()
    x = torch.randn(1, 17, module.lstm.input_size, generator=torch.Generator().manual_seed(0))
    lengths = torch.tensor([17])
    with torch.no_grad():
        eager = module(x, lengths)  # no padding: one pass
        traced = torch.jit.trace(module, (x, lengths), check_trace=False)
        assert torch.equal(eager, traced(x, lengths))  # the traced graph runs both passes
        shorter = torch.tensor([11])
        assert torch.equal(module(x, shorter), traced(x, shorter))


def test_in_place_eager_ops_give_the_same_bits(complex_free):
    block = complex_free.decoder.generator.resblocks[0]
    g = torch.Generator().manual_seed(1)
    channels = block.convs1[0].in_channels
    x = torch.randn(1, channels, 50, generator=g)
    s = torch.randn(1, 128, generator=g)
    mask = (torch.arange(50) < 40).float().view(1, 1, -1)
    for m in (None, mask):
        with torch.enable_grad():  # autograd on: out-of-place ops
            reference = adain_resblock1(block, x, s, m).detach()
        with torch.inference_mode():  # in-place ops
            fast = adain_resblock1(block, x, s, m)
        assert torch.equal(reference, fast)
