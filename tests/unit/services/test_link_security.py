"""Tests of flight.services.link_security and of comms' use of it: when CURVE is on, keys that
load, and a reachable endpoint without keys refused before anything starts."""
from __future__ import annotations

import pytest

from flight.services.link_security import CurveServer, create_keys, curve_wanted, reachable
from flight.testing import ComponentTester
from ground_sim.flight_process import make_keys


@pytest.mark.parametrize("endpoint, expected", [
    ("tcp://127.0.0.1:5550", False), ("tcp://127.0.0.1:*", False), ("tcp://localhost:5550", False),
    ("tcp://[::1]:5550", False), ("ipc:///tmp/flight.tc", False), ("inproc://tc", False),
    ("tcp://0.0.0.0:5550", True), ("tcp://*:5550", True), ("tcp://10.0.0.2:5550", True),
    ("tcp://[::]:5550", True), ("tcp://eth0:5550", True),
])
def test_an_endpoint_is_reachable_unless_it_stays_on_this_host(endpoint, expected):
    assert reachable(endpoint) is expected
    assert curve_wanted("auto", ["tcp://127.0.0.1:1", endpoint]) is expected
    assert curve_wanted("on", ["tcp://127.0.0.1:1"]) and not curve_wanted("off", [endpoint])


def test_keys_load_and_unusable_ones_say_why(tmp_path):
    create_keys(tmp_path / "keys")
    server = CurveServer.load(tmp_path / "keys" / "flight.key_secret", tmp_path / "keys" / "grounds")
    assert len(server.public_key) == 40 and len(server.secret_key) == 40
    with pytest.raises(ValueError, match="no secret key"):
        CurveServer.load(tmp_path / "keys" / "flight.key", tmp_path / "keys" / "grounds")
    with pytest.raises(ValueError, match="no authorized ground certificate"):
        CurveServer.load(tmp_path / "keys" / "flight.key_secret", tmp_path / "empty")
    with pytest.raises(ValueError, match="cannot read"):
        CurveServer.load(tmp_path / "missing.key_secret", tmp_path / "keys" / "grounds")


def test_secret_certificates_are_the_owners_only(tmp_path):
    flight_public, ground_secret = create_keys(tmp_path / "keys")
    for secret in (tmp_path / "keys" / "flight.key_secret", ground_secret):
        assert secret.stat().st_mode & 0o777 == 0o600
    assert flight_public.stat().st_mode & 0o004     # the public part is meant to be handed out


def comms(tmp_path, **config):
    make_keys(tmp_path / "keys")  # the link's SDLS keys are there: the CURVE keys are under test
    return ComponentTester.build(tmp_path, [{"name": "comms", "kind": "flight.services.comms:Comms",
                                             **config}]).components["comms"]


def test_a_reachable_endpoint_without_keys_is_refused_before_anything_starts(tmp_path):
    problem = comms(tmp_path, tc_endpoint="tcp://0.0.0.0:*", tm_endpoint="tcp://127.0.0.1:*").preflight()
    assert problem.startswith("comms.curve: cannot read the flight's CURVE certificate")
    assert "python -m flight.services.link_security" in problem and "\n" not in problem
    assert comms(tmp_path, tc_endpoint="tcp://127.0.0.1:*", tm_endpoint="tcp://127.0.0.1:*").preflight() is None
    create_keys(tmp_path / "curve")
    assert comms(tmp_path, tc_endpoint="tcp://0.0.0.0:*", tm_endpoint="tcp://0.0.0.0:*").preflight() is None


def test_an_explicitly_unauthenticated_reachable_link_says_so_loudly(tmp_path):
    make_keys(tmp_path / "keys")
    h = ComponentTester.build(tmp_path, [{"name": "comms", "kind": "flight.services.comms:Comms",
                                          "tc_endpoint": "tcp://0.0.0.0:*", "tm_endpoint": "tcp://0.0.0.0:*",
                                          "curve": "off", "flush_timeout": 0.0}])
    link = h.components["comms"]
    link.start()
    try:
        assert [(name, args[0].startswith("tcp://0.0.0.0:")) for _, name, args in h.events] == [
            ("Unauthenticated", True)]
        assert "curve_server_key" not in link.ready_info()
    finally:
        link.stop()
