"""Where weights and voices come from, in the documented order, with small fakes on disk.

No network and no model: the checkpoint lookup only checks that files exist, so the fake
``.pth`` files are tiny; voice packs are loaded, so the fakes have the real (510, 1, 256) shape.
"""

import hashlib
import io
import os
import shutil

import huggingface_hub
import pytest
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.utils import _cache_manager

from kokoro_lab.config import REPO_ID
from kokoro_lab.original import checkpoint as ckpt
from kokoro_lab.original import voices

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _clear_caches():
    ckpt._resolve_default.cache_clear()
    voices.load_voice.cache_clear()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in ``tmp_path``, with no other source of weights or voices.

    huggingface_hub reads ``HF_HOME``/``HF_HUB_CACHE`` once, when it is imported, and
    ``scan_cache_dir`` keeps its own copy of the value: both are pointed at the fake cache as well.
    The hub and the real rebuild fail the test if they are reached.
    """
    home = tmp_path / "hf"
    cache = home / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(cache))
    for var in ("KOKORO_LAB_CHECKPOINT", "KOKORO_LAB_VOICES_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KOKORO_LAB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KOKORO_LAB_CACHE", str(tmp_path / "kokoro_lab"))

    def no_hub(filename):
        raise AssertionError(f"the hub was asked for {filename}")

    def no_rebuild(progress=True):
        raise AssertionError("the real rebuild was started")

    monkeypatch.setattr(ckpt, "_from_hub", no_hub)
    monkeypatch.setattr(voices, "_from_hub", no_hub)
    monkeypatch.setattr(ckpt, "rebuilt_checkpoint", no_rebuild)
    _clear_caches()
    yield cache
    _clear_caches()  # nothing resolved against the fakes outlives the test


def _tensor_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def put_in_hub_cache(cache, filename: str, data: bytes):
    """Lay a file out as huggingface_hub does: a blob, a snapshot link to it, and ``refs/main``."""
    repo = cache / ("models--" + REPO_ID.replace("/", "--"))
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = repo / "snapshots" / REVISION / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(os.path.relpath(blob, link.parent))
    except OSError:  # no symlinks (Windows without developer mode): huggingface_hub copies too
        shutil.copyfile(blob, link)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    return link


def fake_checkpoint(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tensor_bytes({"bert": {"module.w": torch.zeros(2)}}))
    return path


def fake_pack(seed: int = 0, shape=voices.PACK_SHAPE) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def cached_checkpoint(hub_cache):
    data = _tensor_bytes({"bert": {"module.w": torch.zeros(2)}})
    return put_in_hub_cache(hub_cache, ckpt.CHECKPOINT_NAME, data)


# ---- checkpoint ---------------------------------------------------------------------------------


def test_fake_cache_follows_huggingface_hub_layout(cached_checkpoint):
    assert try_to_load_from_cache(REPO_ID, ckpt.CHECKPOINT_NAME) == str(cached_checkpoint)
    assert huggingface_hub.try_to_load_from_cache(REPO_ID, "voices/af_heart.pt") is None


def test_official_weights_in_the_hf_cache_are_used(cached_checkpoint):
    source = ckpt.resolve_checkpoint()
    assert source == ckpt.CheckpointSource(cached_checkpoint, "hf-cache")
    assert "Hugging Face cache" in source.describe() and cached_checkpoint.name in source.describe()


def test_env_checkpoint_wins_over_the_hf_cache(cached_checkpoint, tmp_path, monkeypatch):
    mine = fake_checkpoint(tmp_path / "mine" / "kokoro-v1_0.pth")
    monkeypatch.setenv("KOKORO_LAB_CHECKPOINT", str(mine))
    source = ckpt.resolve_checkpoint()
    assert source == ckpt.CheckpointSource(mine, "env")
    assert source.describe().startswith("KOKORO_LAB_CHECKPOINT: ") and mine.name in source.describe()


def test_explicit_path_wins_over_env_and_hf_cache(cached_checkpoint, tmp_path, monkeypatch):
    explicit = fake_checkpoint(tmp_path / "explicit.pth")
    monkeypatch.setenv("KOKORO_LAB_CHECKPOINT", str(fake_checkpoint(tmp_path / "env.pth")))
    assert ckpt.resolve_checkpoint(explicit) == ckpt.CheckpointSource(explicit, "explicit")
    # The variable is not even looked at when a path is given.
    monkeypatch.setenv("KOKORO_LAB_CHECKPOINT", str(tmp_path / "missing.pth"))
    assert ckpt.resolve_checkpoint(str(explicit)).kind == "explicit"


def test_missing_env_checkpoint_is_a_clear_error(cached_checkpoint, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "kokoro-v1_0.pth"
    monkeypatch.setenv("KOKORO_LAB_CHECKPOINT", str(missing))
    with pytest.raises(FileNotFoundError) as err:
        ckpt.resolve_checkpoint()  # no silent fall back to the cached weights
    assert "KOKORO_LAB_CHECKPOINT" in str(err.value) and str(missing) in str(err.value)
    with pytest.raises(FileNotFoundError, match="checkpoint path .*missing.pth does not exist"):
        ckpt.resolve_checkpoint(tmp_path / "missing.pth")


def test_without_official_weights_the_rebuild_is_used(hub_cache, tmp_path, monkeypatch):
    rebuilt = fake_checkpoint(tmp_path / ckpt.REBUILT_NAME)
    calls = []
    monkeypatch.setattr(ckpt, "rebuilt_checkpoint", lambda progress=True: calls.append(progress) or rebuilt)
    source = ckpt.resolve_checkpoint()
    assert source == ckpt.CheckpointSource(rebuilt, "onnx-rebuild")
    assert "offline" in source.describe()
    assert ckpt.resolve_checkpoint() == source and len(calls) == 1  # remembered for the process


def test_hub_is_tried_after_the_cache_only_when_allowed(hub_cache, tmp_path, monkeypatch):
    downloaded = fake_checkpoint(tmp_path / "downloaded.pth")
    rebuilt = fake_checkpoint(tmp_path / ckpt.REBUILT_NAME)
    asked = []
    monkeypatch.setattr(ckpt, "_from_hub", lambda name: asked.append(name) or downloaded)
    monkeypatch.setattr(ckpt, "rebuilt_checkpoint", lambda progress=True: rebuilt)

    assert ckpt.resolve_checkpoint().kind == "onnx-rebuild" and asked == []  # offline from conftest
    assert ckpt.resolve_checkpoint(allow_download=True) == ckpt.CheckpointSource(downloaded, "hub")
    assert asked == [ckpt.CHECKPOINT_NAME]

    monkeypatch.setattr(ckpt, "_from_hub", lambda name: None)  # a failed download
    ckpt._resolve_default.cache_clear()
    assert ckpt.resolve_checkpoint(allow_download=True).kind == "onnx-rebuild"

    cached = put_in_hub_cache(hub_cache, ckpt.CHECKPOINT_NAME, _tensor_bytes(torch.zeros(1)))
    monkeypatch.setattr(ckpt, "_from_hub", lambda name: pytest.fail("the cache must come first"))
    ckpt._resolve_default.cache_clear()
    assert ckpt.resolve_checkpoint(allow_download=True) == ckpt.CheckpointSource(cached, "hf-cache")


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, True),
        ({"KOKORO_LAB_OFFLINE": "1"}, False),
        ({"HF_HUB_OFFLINE": "true"}, False),
        ({"KOKORO_LAB_OFFLINE": "0", "HF_HUB_OFFLINE": ""}, True),
    ],
)
def test_downloads_allowed_follows_the_offline_variables(monkeypatch, env, allowed):
    for var in ("KOKORO_LAB_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert ckpt.downloads_allowed() is allowed


# ---- voices -------------------------------------------------------------------------------------


def test_voices_dir_pack_is_listed_and_loaded(hub_cache, tmp_path, monkeypatch):
    pack = fake_pack(1)
    torch.save(pack, tmp_path / "my_voice.pt")
    monkeypatch.setenv("KOKORO_LAB_VOICES_DIR", str(tmp_path))
    assert "my_voice" in voices.list_voices()
    loaded = voices.load_voice("my_voice")
    assert loaded.dtype == torch.float32 and torch.equal(loaded, pack)
    assert torch.equal(voices.load_voice(str(tmp_path / "my_voice.pt")), pack)  # or by path


def test_voices_dir_comes_before_the_offline_packs(hub_cache, tmp_path, monkeypatch):
    name = voices.OFFLINE_VOICES[0]
    offline = voices.load_voice(name)
    pack = fake_pack(2)
    torch.save(pack, tmp_path / f"{name}.pt")
    monkeypatch.setenv("KOKORO_LAB_VOICES_DIR", str(tmp_path))
    voices.load_voice.cache_clear()
    assert torch.equal(voices.load_voice(name), pack) and not torch.equal(pack, offline)


@pytest.mark.parametrize("shape", [(510, 256), (509, 1, 256), (510, 1, 128)])
def test_pack_of_the_wrong_shape_is_refused(hub_cache, tmp_path, monkeypatch, shape):
    torch.save(fake_pack(shape=shape), tmp_path / "odd.pt")
    monkeypatch.setenv("KOKORO_LAB_VOICES_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"Voice 'odd' has shape .*, expected \(510, 1, 256\)"):
        voices.load_voice("odd")


def test_pack_with_non_finite_values_is_refused(hub_cache, tmp_path, monkeypatch):
    pack = fake_pack(3)
    pack[7, 0, 9] = float("nan")
    torch.save(pack, tmp_path / "broken.pt")
    monkeypatch.setenv("KOKORO_LAB_VOICES_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="'broken' contains non-finite values"):
        voices.load_voice("broken")


def test_voice_in_the_hf_cache_is_found(hub_cache):
    pack = fake_pack(4)
    put_in_hub_cache(hub_cache, "voices/af_heart.pt", _tensor_bytes(pack))
    assert "af_heart" not in voices.OFFLINE_VOICES
    assert "af_heart" in voices.list_voices()
    assert torch.equal(voices.load_voice("af_heart"), pack)


def test_unknown_voice_lists_the_available_ones(hub_cache):
    with pytest.raises(ValueError, match="Unknown voice 'zz_nobody'. Available voices: .*jf_alpha"):
        voices.load_voice("zz_nobody")  # downloads are off: the hub is not asked
