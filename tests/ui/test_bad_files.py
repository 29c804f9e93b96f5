"""The replay of a damaged real transcript opens in the console and plays. The other bad files are in
tests/unit/test_bad_files.py and tests/qemu/test_bad_files.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from colotui.control.replay import ReplayController
from colotui.service.player import Player, open_recording
from colotui.ui.app import ColotuiApp

from ..qemu.test_bad_files import damaged
from ..support.colo import until
from ..support.recorded import real_transcript  # noqa: F401 (fixtures)


async def test_the_replay_of_a_damaged_real_transcript_opens_and_plays(tmp_path: Path,
                                                                       real_transcript: bytes) -> None:  # noqa: F811
    """The console over the issue's three kinds of damage at once: it opens on the rest, goes from start to
    end and back, and its QMP console opens; nothing raises (an exception in the app fails `run_test`)."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(damaged(real_transcript, ("deep", "nan", "not utf-8"))[0])
    player = Player(open_recording(path))
    controller = ReplayController(player, path.name)
    app = ColotuiApp(controller)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: "open" not in controller._tasks, "the replay opens")
        for at in (player.recording.end, player.recording.start, (player.recording.start + player.recording.end) / 2):
            await controller.seek(at)
            await pilot.pause(0.2)
        assert player.now() == pytest.approx((player.recording.start + player.recording.end) / 2)
        await pilot.press("n", "colon")
        await pilot.pause(0.3)
        assert controller.views["primary"].name == "primary" and player.now() > player.recording.start
    assert app.return_code in (None, 0)
