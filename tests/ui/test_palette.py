"""Which procedure the palette (ctrl+p) and the picker (p) run: a name typed in full runs exactly that one, for
every procedure; a prefix never defaults to a riskier procedure (a failover, an abort) than another that matches;
the picker's columns stay apart and it pre-selects the procedure that fits the pair's state, saying why."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

from colotui.model.alerts import assess
from colotui.model.vm import VMView
from colotui.qmp import LinkState
from colotui.qmp.health import Health
from colotui.scenario.loader import catalogue, offers
from colotui.ui.palette import EXACT, ranked
from colotui.ui.procedure import ScenarioPicker, fitting

from ..support.apps import offline_app, pick_procedure
from ..unit.test_fleet import recorded

NAMES = sorted(catalogue())


def _started(app) -> list[str]:
    started: list[str] = []
    app.main.start_procedure = started.append  # what the palette's and the picker's choice calls
    return started


@pytest.mark.parametrize("name", NAMES)
async def test_a_name_typed_in_the_palette_runs_exactly_that_procedure(name: str) -> None:
    app = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        started = _started(app)
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*name)
        await pilot.pause(0.5)  # the palette searches as one types
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert started == [name]


def test_a_prefix_never_defaults_to_a_riskier_procedure() -> None:
    entries = list(catalogue().values())
    for name in NAMES:
        for end in range(1, len(name) + 1):
            query = name[:end]
            hits = ranked(query, entries, lambda text, q=query: _fuzzy(q, text))
            assert hits, query
            best = hits[0][1]
            if hits[0][0] != EXACT:
                assert best.risk == min(entry.risk for _, entry in hits), (query, [(s, e.name) for s, e in hits])
    exact = ranked("primary-resume", entries, lambda text: _fuzzy("primary-resume", text))
    assert exact[0][1].name == "primary-resume" and exact[0][0] == EXACT
    assert ranked("Run procedure: startup", entries, lambda text: 0.0)[0][1].name == "startup"


def _fuzzy(query: str, text: str) -> float:
    from textual.fuzzy import Matcher

    return Matcher(query).match(text)


@pytest.mark.parametrize("name", NAMES)
async def test_the_picker_runs_the_procedure_picked(name: str) -> None:
    app = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        started = _started(app)
        await pick_procedure(pilot, app, name)
        await pilot.pause(0.2)
        assert started == [name]


async def test_the_pickers_columns_never_run_together() -> None:
    app = offline_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press(app.main.keymap.key_for("app.procedures"))
        await pilot.pause(0.2)
        picker = app.screen.query_one(OptionList)
        for i in range(picker.option_count):
            option = picker.get_option_at_index(i)
            text = str(option.prompt)
            assert text.startswith(f"{option.id}  "), text  # the longest name too: secondary-resume-abort


def _view(name: str, status: str) -> VMView:
    return VMView(name, "10.0.0.1").with_(link=LinkState.CONNECTED, status=status, running=status == "running")


def test_the_procedure_that_fits_the_pairs_state_is_pre_selected() -> None:
    alone = recorded("primary", "10.0.0.1", "introspect-primary-after-pfailover")
    fresh = _view("secondary-2", "inmigrate")
    views = {"primary": alone, "secondary": fresh}
    fits = fitting(views, assess(alone, fresh, offers()))
    assert fits is not None and fits[0] == "primary-resume", fits
    assert "secondary-2 waits for the migration" in fits[1]
    assert fitting({"primary": _view("p", "prelaunch"), "secondary": _view("s", "inmigrate")}, {})[0] == "startup"
    colo = {"primary": recorded("primary", "10.0.0.1", "introspect-primary-colo"),
            "secondary": recorded("secondary", "10.0.0.2", "introspect-secondary-colo")}
    assert fitting(colo, {}) is None
    lost = colo["secondary"].with_(link=LinkState.CONNECTING, link_detail="refused", health=Health.DOWN,
                                   health_detail="refused")
    alerts = assess(colo["primary"], lost, offers())
    assert fitting({**colo, "secondary": lost}, alerts)[0] == "primary-failover"
    picker = ScenarioPicker(catalogue(), ("primary-resume", "why"))
    assert picker.fits == ("primary-resume", "why")
    assert ScenarioPicker(catalogue(), ("no-such", "why")).fits is None
