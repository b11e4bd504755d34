"""The pure parts of backup/restore: naming of scratch units and copies, and how a drill compares."""
from __future__ import annotations

import pytest

from estate.backup import Drill
from estate.errors import EstateError
from estate.stores.base import check_copy_name, is_scratch


@pytest.mark.parametrize("name", ["estate_probe", "ESTATE_PROBE_FAILOVER", "estate-probe", "estate-bench-raw",
                                  "estate_restore_bot_core", "ESTATE_RESTORE_THE0_EVENTS", "estate-restore-logs"])
def test_harness_units_are_scratch(name: str) -> None:
    assert is_scratch(name)


@pytest.mark.parametrize("name", ["estate", "bot_core", "THE0_EVENTS", "custom-bots", "restored-data"])
def test_live_units_are_not_scratch(name: str) -> None:
    assert not is_scratch(name)


def test_a_copy_must_carry_the_prefix() -> None:
    assert check_copy_name("estate_restore_nightly") == "estate_restore_nightly"
    for live in ("estate", "bot_core", "restore"):
        with pytest.raises(EstateError, match="must start with 'estate_restore'"):
            check_copy_name(live)


def test_a_drill_names_every_unit_that_differs() -> None:
    drill = Drill("mongo", {"a.x": "3:aa", "a.y": "1:bb", "a.z": "0:cc"}, {"a.x": "3:aa", "a.y": "1:bd", "a.w": "2:dd"})
    assert drill.differences == ["a.w: backup absent, restored 2:dd", "a.y: backup 1:bb, restored 1:bd",
                                 "a.z: backup 0:cc, restored absent"]
    assert drill.rows == 6
    assert Drill("nats", {"S": "5:ee"}, {"S": "5:ee"}).differences == []
