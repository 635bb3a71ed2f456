"""The shared batch order, RNG state and loop skeleton of kokoro-lab's training loops."""

import pytest
import torch

from kokoro_lab.atomic import OutputExistsError
from kokoro_lab.seeded_training import (
    Checkpoint,
    SeededLoop,
    epoch_order,
    optimizer_step,
    rng_state,
    set_rng_state,
)
from kokoro_lab.torch_files import load_torch_file, save_torch_file


def test_each_epoch_visits_every_item_once_and_the_order_depends_on_seed_and_epoch():
    n, batch_size = 10, 4  # 3 steps per epoch, the last one short
    epochs = [
        [i for step in range(e * 3, e * 3 + 3) for i in epoch_order(n, step, batch_size, seed=1)]
        for e in range(2)
    ]
    assert [len(epoch_order(n, s, batch_size, 1)) for s in range(3)] == [4, 4, 2]
    assert all(sorted(order) == list(range(n)) for order in epochs)
    assert epochs[0] != epochs[1]  # a fresh shuffle per epoch
    assert epoch_order(n, 0, batch_size, seed=1) == epoch_order(n, 0, batch_size, seed=1)
    assert epoch_order(n, 0, batch_size, seed=1) != epoch_order(n, 0, batch_size, seed=2)


def test_epoch_order_names_bad_sizes():
    with pytest.raises(ValueError, match="batch_size"):
        epoch_order(0, 0, 4, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        epoch_order(5, 0, 0, seed=0)


def test_rng_state_round_trip_repeats_the_same_draws():
    torch.manual_seed(3)
    state = rng_state()
    first = torch.rand(5)
    set_rng_state(state)
    assert torch.equal(torch.rand(5), first)


# --- the loop skeleton, on a toy model ----------------------------------------------------------

N_ITEMS, BATCH_SIZE, SEED = 10, 4, 5  # 3 steps per epoch, the last one short
X = torch.randn(N_ITEMS, 3, generator=torch.Generator().manual_seed(0))
Y = X @ torch.tensor([[1.0], [-2.0], [0.5]])


def save_toy(path, model, optimizer, training, overwrite=True):
    """A toy checkpoint format: weights, optimizer and loop state in one atomic torch file."""
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "training": training}
    return save_torch_file(payload, path, overwrite)


def load_toy(path, model, optimizer):
    ckpt = load_torch_file(path, "toy checkpoint", "train again")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["training"]


def toy_run(steps, path=None, resume=False, overwrite=False, every=0, init_seed=0, lr=0.1, seen=None):
    """Train a Linear(3, 1) with dropout (so the global RNG matters) → (model, history).

    ``seen`` collects the ``(step, indices)`` each step was given.
    """
    torch.manual_seed(init_seed)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)  # state to restore
    loop = SeededLoop(
        model,
        optimizer,
        Checkpoint(path, load_toy, save_toy, every=every),
        settings={"lr": lr},
        steps=steps,
        n_items=N_ITEMS,
        batch_size=BATCH_SIZE,
        seed=SEED,
        history_keys=("step", "loss"),
    )
    loop.start(resume, overwrite)

    def step_fn(step, indices):
        if seen is not None:
            seen.append((step, indices))
        pred = model(torch.nn.functional.dropout(X[indices], p=0.3))
        loss = (pred - Y[indices]).pow(2).mean()
        optimizer_step(optimizer, loss, model.parameters(), grad_clip=1.0)
        return {"loss": loss.item()}

    return model, loop.run(step_fn, progress=False)


def test_a_run_resumed_in_chunks_equals_the_uninterrupted_run_bit_for_bit(tmp_path):
    straight, h_straight = toy_run(7)
    path = tmp_path / "toy.pt"
    toy_run(3, path)
    toy_run(5, path, resume=True, init_seed=1)  # another init: everything comes from the checkpoint
    resumed, h_resumed = toy_run(7, path, resume=True, init_seed=2)
    after_resumed = torch.rand(3)
    assert h_resumed == h_straight and h_straight["step"] == list(range(1, 8))
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), resumed.parameters(), strict=True))
    toy_run(7)
    assert torch.equal(torch.rand(3), after_resumed)  # the global RNG ends in the same state too


def test_each_step_gets_its_epoch_order_batch_and_a_resumed_run_only_the_rest(tmp_path):
    seen = []
    toy_run(7, seen=seen)
    assert seen == [(s, epoch_order(N_ITEMS, s, BATCH_SIZE, SEED)) for s in range(7)]
    path, rest = tmp_path / "toy.pt", []
    toy_run(4, path)
    toy_run(7, path, resume=True, seen=rest)
    assert rest == seen[4:]


def test_the_checkpoint_is_saved_every_k_steps_and_at_the_end(tmp_path):
    path, saved = tmp_path / "toy.pt", []

    def spy(path, model, optimizer, training, overwrite=True):
        saved.append((training["step"], len(training["history"]["loss"]), overwrite))
        return save_toy(path, model, optimizer, training, overwrite)

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loop = SeededLoop(
        model, optimizer, Checkpoint(path, load_toy, spy, every=2), {}, 5, N_ITEMS, BATCH_SIZE, SEED,
        ("step", "loss"),
    )  # fmt: skip
    loop.start()
    loop.run(lambda step, indices: {"loss": float(step)}, progress=False)
    assert saved == [(2, 2, True), (4, 4, True), (5, 5, True)]
    assert load_toy(path, model, optimizer)["history"] == {"step": [1, 2, 3, 4, 5], "loss": [0.0, 1, 2, 3, 4]}


def test_an_existing_checkpoint_is_not_overwritten_without_permission(tmp_path):
    path = tmp_path / "toy.pt"
    toy_run(2, path)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists; pass overwrite=True"):
        toy_run(3, path)
    assert path.read_bytes() == before  # refused before any step
    toy_run(3, path, overwrite=True)
    assert load_torch_file(path, "toy checkpoint", "")["training"]["step"] == 3


def test_resume_names_what_is_missing_or_different(tmp_path):
    path = tmp_path / "toy.pt"
    with pytest.raises(ValueError, match="resume=True needs checkpoint_path"):
        toy_run(3, resume=True)
    with pytest.raises(FileNotFoundError):
        toy_run(3, path, resume=True)
    toy_run(2, path)
    with pytest.raises(ValueError, match="was trained with .*resume with the same settings"):
        toy_run(3, path, resume=True, lr=0.2)
