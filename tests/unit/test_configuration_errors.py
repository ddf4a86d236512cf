"""Every configuration error a new user made (issue 10) is refused by ``orbitfs-flight`` with one
line naming ``section.key``, the value and what is allowed, exit code 2, no traceback, and nothing
started: a typo, wrong types, values out of range, a bad or taken endpoint, a missing, corrupt or
wrongly shaped model, and a camera whose tiles the cluster does not compute on."""
from __future__ import annotations

import zmq
import pytest

from flight.__main__ import main
from flight.app import DEFAULT_TOPOLOGY
from flight.payload.demo_model import write_demo_model
from ground_sim.flight_process import make_keys

pytestmark = pytest.mark.usefixtures("restore_root_logger")   # main() configures logging

WILDCARDS = ['comms.tc_endpoint="tcp://127.0.0.1:*"', 'comms.tm_endpoint="tcp://127.0.0.1:*"']


def refused(capsys, tmp_path, overrides=(), topology=None) -> str:
    """Run orbitfs-flight; it must exit 2 with one line on stderr, which is returned."""
    make_keys(tmp_path / "run" / "keys")  # the link's keys are there: the error is the one under test
    argv = ["--run-dir", str(tmp_path / "run"), "--max-ticks", "1"]
    if topology is not None:
        path = tmp_path / "topology.toml"
        path.write_text(topology)
        argv += ["--topology", str(path)]
    for assignment in overrides:
        argv += ["--set", assignment]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("orbitfs-flight: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run" / "flight-ready.json").exists()
    return err


@pytest.mark.parametrize("assignment, words", [
    ('cluster.polcy="round-robin"', ["cluster.polcy: no such setting", "did you mean policy?"]),
    ('cluster.policy="fastest"', ["cluster.policy = 'fastest'", "one of 'round-robin'"]),
    ('comms.tc_endpoint="tcp://127.0.0.1"', ["comms.tc_endpoint = 'tcp://127.0.0.1'",
                                             "not a ZeroMQ endpoint"]),
    ('comms.tm_endpoint="tcp://127.0.0.1:70000"', ["comms.tm_endpoint", "port must be from 1 to 65535"]),
    ("clock.speedup=-1", ["clock.speedup = -1.0", "must be a number from 0 to"]),
    ("mission.apid=5000", ["mission.apid = 5000", "must be an integer from 0 to 2,046"]),
    ("comms.tm_store_octets=0", ["comms.tm_store_octets = 0", "from 4,096 to"]),
    ("dispatcher.max_tc_size=0", ["dispatcher.max_tc_size = 0", "from 13 to"]),
    ("camera.frame_divider=0", ["camera.frame_divider = 0", "from 1 to"]),
    ("camera.size=128", ["camera.size = 128 but cluster.size = 256"]),
    ("mission.orbit={altitude_km = 0}", ["mission.orbit.altitude_km = 0.0", "from 160 to"]),
    ('seu.plan=[{tick = 1, region = "x"}]', ["seu.plan[0]", "needs a region and an offset"]),
])
def test_a_bad_setting_is_one_line_and_exit_2(capsys, tmp_path, assignment, words):
    err = refused(capsys, tmp_path, [assignment])
    for word in words:
        assert word in err


def test_a_card_setting_of_the_wrong_type_names_its_card(capsys, tmp_path):
    text = DEFAULT_TOPOLOGY.read_text()
    wrong = text.replace("threads = 1 ", 'threads = "four" ', 1)
    assert wrong != text
    assert "cluster.cards[0].threads = 'four': expected an integer" in refused(capsys, tmp_path,
                                                                              topology=wrong)


def test_a_taken_port_is_one_line_and_exit_2(capsys, tmp_path):
    write_demo_model(tmp_path / "run" / "demo_model.onnx")  # the flight could start, but for the port
    holder = zmq.Context.instance().socket(zmq.ROUTER)
    try:
        holder.bind("tcp://127.0.0.1:*")
        taken = holder.getsockopt_string(zmq.LAST_ENDPOINT)
        err = refused(capsys, tmp_path, [f'comms.tc_endpoint="{taken}"', WILDCARDS[1]])
    finally:
        holder.close(linger=0)
    assert f"comms.tc_endpoint = '{taken}': cannot bind" in err and "in use" in err


@pytest.mark.parametrize("model, words", [
    ("missing", ["no model there", "python -m flight.payload.demo_model"]),
    ("corrupt", ["not a model ONNX Runtime can load"]),
    ("small", ["takes tensor(uint16) ['N', 4, 128, 128]", "feeds one tensor(uint16) [N, 4, 256, 256]"]),
])
def test_a_missing_corrupt_or_wrongly_shaped_model_is_one_line_and_exit_2(capsys, tmp_path, model,
                                                                         words):
    path = tmp_path / f"{model}.onnx"
    if model == "corrupt":
        path.write_bytes(b"\x08\x07garbage" * 100)
    elif model == "small":
        write_demo_model(path, size=128)
    err = refused(capsys, tmp_path, [*WILDCARDS, f'cluster.model="{path}"'])
    assert f"cluster.model = '{path}'" in err
    for word in words:
        assert word in err
