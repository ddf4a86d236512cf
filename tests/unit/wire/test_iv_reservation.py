"""IvReservation: counters only grow across restarts; one save per step (flight.wire.iv_reservation)."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from flight.wire.iv_reservation import IvReservation
from flight.wire.sdls import SecurityAssociation, Service


def sa(arsn_len: int = 0) -> SecurityAssociation:
    return SecurityAssociation(2, Service.AUTHENTICATION, key_id=1, arsn_len=arsn_len, window=1 << 32)


def use(reservation: IvReservation) -> tuple[int, int]:
    """What a sender does per frame: reserve, then use the IV and ARSN and advance them."""
    reservation.before_use()
    used = (reservation.sa.iv, reservation.sa.arsn)
    reservation.sa.iv += 1
    if reservation.sa.arsn_len:
        reservation.sa.arsn += 1
    return used


@settings(max_examples=40, deadline=None)
@given(runs=st.lists(st.integers(0, 60), min_size=1, max_size=6), step=st.integers(1, 17),
       arsn_len=st.sampled_from([0, 2]))
def test_a_restarted_sender_never_reuses_a_counter(runs, step, arsn_len):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tm_sa.bin"
        used: list[tuple[int, int]] = []
        for frames in runs:                       # each run ends in a crash: no close, no final save
            reservation = IvReservation(sa(arsn_len), path, step)
            if used:
                assert reservation.sa.iv > max(iv for iv, _ in used)
                if arsn_len:
                    assert reservation.sa.arsn > max(arsn for _, arsn in used)
            run = [use(reservation) for _ in range(frames)]
            assert reservation.saves == math.ceil(frames / step)
            used += run
        ivs = [iv for iv, _ in used]
        assert len(set(ivs)) == len(ivs) == sum(runs)


def test_a_restart_skips_at_most_one_step(tmp_path):
    reservation = IvReservation(sa(), tmp_path / "tm_sa.bin", 100)
    for _ in range(5):
        use(reservation)
    assert IvReservation(sa(), tmp_path / "tm_sa.bin", 100).sa.iv == 100   # 5 used, reserved to 100


def test_a_step_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="step of 0"):
        IvReservation(sa(), tmp_path / "tm_sa.bin", 0)
