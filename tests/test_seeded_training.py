"""The shared batch order and RNG state of kokoro-lab's training loops."""

import pytest
import torch

from kokoro_lab.seeded_training import epoch_order, rng_state, set_rng_state


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
