"""The TUI against the engine: pilot-driven inputs, row selection, a calibration run and a cancel."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.worker import WorkerCancelled

import advisor
from advisor.api import advise
from advisor.calibration import meter_options
from advisor.tui.app import AdvisorApp, HelpScreen
from advisor.tui.calibrate import CalibrateScreen
from advisor.tui.profile import ProfileScreen
from advisor.tui.widgets import EnergyPlot
from measurement.architecture import SHAPES
from measurement.store import RunStore

DATA = Path(__file__).resolve().parents[3] / "data"


async def _settle(app, pilot, seconds: float = 0.5) -> None:
    """Let the debounce fire, then wait for the recommend workers; an exclusive worker superseded by a newer
    one is cancelled by design (on a loaded machine the debounce can fire between two edits), so wait again."""
    await pilot.pause(seconds)
    for _ in range(5):
        try:
            await app.workers.wait_for_complete()
            break
        except WorkerCancelled:
            await pilot.pause(0.1)
    await pilot.pause(0.1)


@pytest.fixture
def profile_dir(advising_profile_dir: Path) -> Path:
    """The fake energy posterior with hand-made (real-format) accuracy posteriors, saved once per session."""
    return advising_profile_dir


def test_typing_a_budget_updates_table_and_details_like_the_engine(profile_dir: Path) -> None:
    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            screen = app.screen
            screen.query_one("#in-accuracy", Input).value = "0.9"
            screen.query_one("#in-confidence", Input).value = "0.6"
            screen.query_one("#in-depths", Input).value = "2-4"
            screen.query_one("#in-objective", Input).value = "training-energy"
            await _settle(app, pilot, 0.8)
            expected = advise(advisor.load_profile(profile_dir), "digits", 0.9, 0.6, min_depth=2, max_depth=4, top=50,
                              objective="training-energy")  # fmt: skip
            table = screen.query_one(DataTable)
            assert table.row_count == len(expected.table) > 1
            labels = [str(c.label) for c in table.columns.values()]
            assert labels[:8] == ["#", "shapes", "d", "widths", "params", "lr", "batch", "epochs"]
            assert "train J" in labels
            first, top = table.get_row_at(0), expected.table.iloc[0]
            assert first[2] == str(top["depth"]) and first[7] == f"{top['epochs']:g}"
            assert "wins:" in str(screen.query_one("#message", Static).render())
            table.focus()
            await pilot.press("down")
            await pilot.pause(0.2)
            second = expected.table.iloc[1]
            details = str(screen.query_one("#details", Static).render())
            assert f"params {second['params']:,}" in details and f"epochs {second['epochs']:g}" in details
            assert f"P(meet budget) {second['p_meet']:.2f}" in details and second["tier"] in details
            assert "ESTIMATED training energy" in details

    asyncio.run(scenario())


def test_opening_the_app_asks_for_one_recommendation_not_one_per_input(profile_dir: Path, monkeypatch) -> None:
    """Mounting the inputs posts Input.Changed for each: that is no edit, and must not start (and cancel) a
    second recommend; a real edit still starts one."""
    asked: list[str] = []

    def counting(profile, dataset, *args, **kwargs):
        asked.append(dataset)
        return advise(profile, dataset, *args, **kwargs)

    monkeypatch.setattr(advisor.api, "advise", counting)

    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot, 1.0)
            assert asked == ["digits"]
            app.screen.query_one("#in-accuracy", Input).value = "0.9"
            await _settle(app, pilot, 0.8)
            assert asked == ["digits", "digits"]

    asyncio.run(scenario())


def test_the_plot_shows_training_energy_per_shape_in_human_units(profile_dir: Path) -> None:
    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(160, 50)) as pilot:
            await _settle(app, pilot)
            screen = app.screen
            curves = screen.answer.curves
            assert {c.shape for c in curves} == {s.value for s in SHAPES}
            assert all(list(c.params) == sorted(c.params) for c in curves)
            assert screen.answer.crossings  # the fitted tiers, where the training working set crosses them
            canvas = re.sub(r"\x1b\[[0-9;]*m", "", screen.query_one(EnergyPlot).plt.build())
            assert re.search(r"10\^\d", canvas) and re.search(r"\d [mµk]?J", canvas) and "rect" in canvas
            assert "e+" not in canvas and "e-" not in canvas  # no raw powers of ten

    asyncio.run(scenario())


def test_epochs_and_objective_fields_are_checked_by_the_engine(profile_dir: Path) -> None:
    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            screen = app.screen
            screen.query_one("#in-epochs", Input).value = "often"
            await _settle(app, pilot, 0.8)
            assert "epochs must be a whole number" in str(screen.query_one("#message", Static).render())
            screen.query_one("#in-epochs", Input).value = "32"
            screen.query_one("#in-objective", Input).value = "speed"
            await _settle(app, pilot, 0.8)
            assert "unknown objective" in str(screen.query_one("#message", Static).render())
            screen.query_one("#in-objective", Input).value = "energy-per-datum"
            await _settle(app, pilot, 0.8)
            table = screen.query_one(DataTable)
            assert table.row_count > 0 and {table.get_row_at(i)[7] for i in range(table.row_count)} == {"32"}

    asyncio.run(scenario())


def test_a_recheck_made_while_the_screen_is_open_applies_and_warns_once_stale(
    profile_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from advisor.api import this_machine
    from advisor.recheck import profile_id
    from models.machine_state import PhaseScale, Recheck, append_recheck, history_path, machine_key

    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    now = [2_000_000_000.0]

    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            screen = app.screen
            screen.clock = lambda: now[0]
            assert screen.profile.machine.recheck is None
            energy_before = screen.profile.energy
            await pilot.press("r")
            await _settle(app, pilot)
            assert screen.profile.energy is energy_before  # nothing changed: the same posterior, its draws cached
            made = Recheck(profile_id(screen.profile), machine_key(this_machine()), now[0] - 3600,
                           (PhaseScale(0.2, 0.01), PhaseScale(0.1, 0.01)), 0.02, 0.0, 20)  # fmt: skip
            append_recheck(history_path(tmp_path), made)  # "advisor calibrate --recheck" in another terminal
            await pilot.press("r")
            await _settle(app, pilot)
            assert screen.profile.machine.recheck == made
            assert "warning" not in str(screen.query_one("#message", Static).render())
            now[0] += 2 * 86400  # the screen left open for two days
            await pilot.press("r")
            await _settle(app, pilot)
            assert "days old" in str(screen.query_one("#message", Static).render())

    asyncio.run(scenario())


def test_an_open_screen_keeps_its_posterior_while_the_recheck_ages_by_minutes_not_hours() -> None:
    import dataclasses

    from advisor.tui.advise import state_key
    from models.machine_state import DayVariation, MachineState, PhaseScale, Recheck

    made_s = 2_000_000_000.0
    recheck = Recheck("p", "m", made_s, (PhaseScale(0.2, 0.01), PhaseScale(0.1, 0.01)), 0.02, 0.0, 20)
    at = lambda minutes: MachineState(recheck, DayVariation(0.1, 3, 2), made_s + 60 * minutes, 0.02)  # noqa: E731
    assert at(1).residual_sigma != at(2).residual_sigma  # the spread it adds moves by the minute ...
    assert state_key(at(1)) == state_key(at(2))  # ... but not enough to recompute every candidate's draws
    assert state_key(at(1)) != state_key(at(60))  # an hour on, the interval is a point wider: a new posterior
    assert not at(60).warnings() and at(60 * 25).warnings()  # a day on, it warns ...
    stale = MachineState(recheck, DayVariation(0.1, 3, 2), made_s + 60 * 60 * 25, 0.02)
    assert state_key(stale) != state_key(dataclasses.replace(stale, now_unix_s=made_s + 60 * 60 * 23))  # ... a key
    assert state_key(None) is None


def test_bad_input_shows_a_message_not_a_crash(profile_dir: Path) -> None:
    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await _settle(app, pilot)
            app.screen.query_one("#in-accuracy", Input).value = "1.7"
            await _settle(app, pilot, 0.8)
            assert "accuracy budget must be in (0, 1]" in str(app.screen.query_one("#message", Static).render())
            assert app.screen.query_one(DataTable).row_count == 0  # no stale answer under an error
            app.screen.query_one("#in-accuracy", Input).value = ""
            await _settle(app, pilot, 0.8)
            assert "accuracy budget: '' is not a number" in str(app.screen.query_one("#message", Static).render())
            app.screen.query_one("#in-accuracy", Input).value = "0.8"
            app.screen.query_one("#in-dataset", Input).value = "mnist"
            await _settle(app, pilot, 0.8)
            message = str(app.screen.query_one("#message", Static).render())
            assert "no accuracy model for data set 'mnist'" in message and "give 'advisor probe' the path" in message

    asyncio.run(scenario())


def test_screens_and_help_are_reachable_by_keys(profile_dir: Path) -> None:
    async def scenario() -> None:
        app = AdvisorApp(profile_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await _settle(app, pilot)
            await pilot.press("p")
            assert isinstance(app.screen, ProfileScreen)
            assert "ESTIMATED" in str(app.screen.query_one("#profile-view", Static).render())
            await pilot.press("c")
            assert isinstance(app.screen, CalibrateScreen)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert isinstance(app.screen, CalibrateScreen)

    asyncio.run(scenario())


def _replay_app(store: Path, profile_dir: Path) -> AdvisorApp:
    """The app on the fake profile (its advise screen recommends on mount) with the replay meter."""
    meter = meter_options("replay", replay=DATA / "replay_readings.csv")
    return AdvisorApp(profile_dir, store=store, meter=meter, window_s=0.01)


@pytest.fixture
def one_calibration_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibrate on the default's middle data set alone (where its sentinel runs): the default plan spans five
    and takes seconds to make, and these tests are about the screen, not the plan (tests/advisor/
    test_cli_calibrate.py checks the default one)."""
    from advisor import calibration

    middle = calibration.DEFAULT_CALIBRATION_DATASETS[len(calibration.DEFAULT_CALIBRATION_DATASETS) // 2]
    monkeypatch.setattr(calibration, "DEFAULT_CALIBRATION_DATASETS", (middle,))


async def _start_calibration(app: AdvisorApp, pilot, budget: str, max_runs: str) -> CalibrateScreen:
    await pilot.press("c")
    screen = app.screen
    screen.query_one("#budget", Input).value = budget
    screen.query_one("#max-runs", Input).value = max_runs
    screen.query_one("#start", Button).press()
    return screen


def _store_counts(store: Path) -> tuple[int, int, str]:
    with sqlite3.connect(store) as conn:
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        phases = conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        return runs, phases, conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_calibration_started_in_the_tui_finishes_and_lists_its_runs(
    tmp_path: Path, profile_dir: Path, one_calibration_set: None
) -> None:
    store = tmp_path / "runs.sqlite"

    async def scenario() -> None:
        app = _replay_app(store, profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _start_calibration(app, pilot, "2m", "3")
            await _settle(app, pilot, 1.0)
            status = str(screen.query_one("#calibrate-status", Static).render())
            assert status.startswith("complete: 3 runs committed"), status
            assert "drift n/a (1 sentinel run; 4 needed)" in status  # the sentinel, planned first
            table = screen.query_one("#runs-table", DataTable)
            assert table.row_count == 3
            assert table.get_row_at(0)[1:3] == ["replay", "measured"]

    asyncio.run(scenario())
    assert _store_counts(store) == (3, 6, "ok")


def test_cancel_mid_calibration_keeps_the_store_consistent(
    tmp_path: Path, profile_dir: Path, one_calibration_set: None
) -> None:
    store = tmp_path / "runs.sqlite"

    async def scenario() -> None:
        app = _replay_app(store, profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await _start_calibration(app, pilot, "5m", "40")
            table = screen.query_one("#runs-table", DataTable)
            for _ in range(600):
                await pilot.pause(0.05)
                if table.row_count >= 2:
                    break
            screen.query_one("#cancel", Button).press()
            await _settle(app, pilot, 0.2)
            status = str(screen.query_one("#calibrate-status", Static).render())
            assert status.startswith("cancelled"), status
            rows = table.row_count
            assert 2 <= rows < 40
            runs, phases, integrity = _store_counts(store)
            assert (runs, phases, integrity) == (rows, 2 * rows, "ok")

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_probe_started_in_the_tui_fits_the_datasets_accuracy_model(
    tmp_path: Path, profile_dir: Path, monkeypatch
) -> None:
    """The TUI runs the library's probe job (sweep, then fit), as `advisor probe` does."""
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path))
    store = tmp_path / "runs.sqlite"
    dataset = "synthetic:400,6,3"

    async def scenario() -> None:
        app = _replay_app(store, profile_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("c")
            screen = app.screen
            screen.query_one("#mode", Select).value = "probe"
            screen.query_one("#dataset", Input).value = dataset
            await _start_calibration(app, pilot, "2m", "8")
            status = screen.query_one("#calibrate-status", Static)
            for _ in range(3000):
                await pilot.pause(0.1)
                if not screen.running:
                    break
            assert "accuracy model for" in str(status.render()), str(status.render())

    asyncio.run(scenario())
    profile = advisor.load_profile(tmp_path / "profile")
    probes = RunStore(store).frame()
    probes = probes[(probes["sweep_kind"] == "probe") & (probes["phase"] == "train") & (probes["status"] == "ok")]
    assert len(probes) == 8 and probes["run_key"].nunique() == 8  # a rung continues its best configs on new seeds
    configs = probes.groupby(["shape", "depth", "params", "learning_rate", "batch_size"]).ngroups
    info = profile.datasets[dataset]
    assert dataset in profile.accuracy and info.runs == 8 and len(info.configs) == configs < 8  # seeds of one config
