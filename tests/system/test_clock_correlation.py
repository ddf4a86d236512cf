"""Time correlation (ground_sim.time_correlation, flight.services.time_management) against a real
flight process over real sockets: a wall-clock flight whose oscillator is deliberately wrong
(``clock.offset_s``, ``clock.drift_ppm``, test equipment) is measured by round trips, corrected
with ADJUST_TIME, and measured again.

Oracles: the injected error, known up to when the flight made its clock (between the start of
the flight process and its ready file: the drift accumulates from then), must lie within the
measured offset's uncertainty; the drift within its uncertainty; after the correction the offset
and the drift are 0 within theirs. TM[9,2] reports come at the rate TC[9,1] sets, stamped with the
corrected time.
"""
from __future__ import annotations

import time

from ground_sim.api import IntegrationApi
from ground_sim.flight_process import FlightProcess

OFFSET_S, DRIFT_PPM, SAMPLES = 2.5, 3000.0, 40   # ahead: the correction slews back


def test_an_offset_drifting_clock_is_measured_and_corrected(tmp_path, demo_model):
    began = time.monotonic()
    overrides = [f'cluster.model="{demo_model}"', 'clock.kind="wall"', f"clock.offset_s={OFFSET_S}",
                 f"clock.drift_ppm={DRIFT_PPM}", "timeManagement.rate_exponent=8", "timeManagement.slew_ppm=500000"]
    flight = FlightProcess(tmp_path / "flight", None, overrides)
    made_after = time.time()
    flight.start()
    made_before = time.time()
    try:
        api = IntegrationApi(flight.connect(tmp_path / "archive.sqlite"), process=flight)
        measured = api.correlate(samples=SAMPLES, interval=0.15, apply=True)
        drift = DRIFT_PPM * 1e-6
        lowest = OFFSET_S + drift * (measured.reference - made_before)
        highest = OFFSET_S + drift * (measured.reference - made_after)
        assert lowest - measured.offset_uncertainty_s <= measured.offset_s <= highest + measured.offset_uncertainty_s
        assert abs(measured.drift_ppm - DRIFT_PPM) <= measured.drift_uncertainty_ppm
        assert measured.drift_uncertainty_ppm < DRIFT_PPM / 2

        api.set_time_report_rate(0)                 # TM[9,2] every second, coming while the clock is measured again
        corrected = api.correlate(samples=SAMPLES // 2, interval=0.15)
        assert abs(corrected.offset_s) <= corrected.offset_uncertainty_s
        assert abs(corrected.drift_ppm) <= corrected.drift_uncertainty_ppm
        api.await_event("timeManagement.TimeAdjusted")

        api._wait_for(lambda: True if len(api.station.time_reports) >= 3 else None, 10, lambda: "3 TM[9,2]")
        report, arrival = api.station.time_reports[-1]
        assert report.exponent == 0 and abs(report.time - arrival) < 0.5 + corrected.offset_uncertainty_s
        assert api.station.stats.decode_errors == 0
    finally:
        api.station.close()
        flight.kill()
    print(f"\ninjected {OFFSET_S * 1e3:.1f} ms (+{drift * (measured.reference - made_before) * 1e3:.1f} to "
          f"+{drift * (measured.reference - made_after) * 1e3:.1f} ms drifted) and {DRIFT_PPM:.0f} ppm; "
          f"measured {measured}; after the correction {corrected}; {time.monotonic() - began:.1f} s")


def test_the_readme_example_works_as_written(flight_factory, readme_example):
    readme_example("flight.correlate(")(flight_factory)
