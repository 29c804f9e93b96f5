"""The console in a real terminal (a pty, `colotui connect` as an operator runs it, on two VMs that are not
there: nothing here needs them): a terminal too small says the size it needs and the console comes back when
it grows; the mouse capture turns off and on (so the terminal can select text); NO_COLOR is honoured."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from ..support.terminal import Terminal

ARGV = [sys.executable, "-m", "colotui", "connect", "/nonexistent/p.sock", "/nonexistent/s.sock"]
#: SGR parameters that are a hue (not black, white or a grey): 31–36, 41–46, 91–96, 101–106.
_HUE = re.compile(rb"\x1b\[(?:[0-9]+;)*(?:3[1-6]|4[1-6]|9[1-6]|10[1-6])(?:;[0-9]+)*m")


def said(phrase: str) -> object:
    """A condition: ``phrase`` shown, however the screen wrapped it (in a notification's border too)."""
    return lambda text: phrase in " ".join(text.replace("▌", " ").split())


def _console(tmp_path: Path, size: tuple[int, int], **env: str) -> Terminal:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "NO_COLOR"}
    return Terminal(ARGV, cwd=tmp_path, env=base | {"XDG_STATE_HOME": str(tmp_path)} | env, size=size)


def test_a_terminal_too_small_says_the_size_it_needs_until_it_grows(tmp_path: Path) -> None:
    console = _console(tmp_path, (50, 12))
    small = console.wait_for(said("colotui needs a terminal of at least 60x16; this one is 50x12"), 30)
    console.resize((100, 30))
    back = console.wait_for(lambda text: text.rfind("Procedures") > text.rfind("this one is 50x12"), 15)
    console.press("q")
    assert console.wait_exit(10) == 0, console.text[-2000:]
    assert small and back, console.text[-2000:]


def test_the_mouse_capture_turns_off_and_on(tmp_path: Path) -> None:
    console = _console(tmp_path, (100, 30))
    ready = console.wait_for(lambda text: "Procedures" in text, 30)
    start = len(console.raw)
    console.press("m")
    off = console.wait_for(said("mouse off: select text as in any terminal"), 10)
    off_raw = console.raw[start:]
    console.press("m")
    on = console.wait_for(said("mouse on: clicks and scrolling go to the console"), 10)
    console.press("q")
    assert console.wait_exit(10) == 0, console.text[-2000:]
    assert ready and off and on, console.text[-2000:]
    assert b"\x1b[?1000l" in off_raw, "mouse reporting off"
    assert b"\x1b[?1000h" in console.raw[start + len(off_raw):], "and on again"


def test_no_color_leaves_no_hue(tmp_path: Path) -> None:
    raws = {}
    for label, env in (("colour", {}), ("NO_COLOR", {"NO_COLOR": "1"})):
        console = _console(tmp_path, (100, 30), **env)
        shown = console.wait_for(lambda text: "Procedures" in text, 30)
        console.press("q")
        assert console.wait_exit(10) == 0 and shown, console.text[-2000:]
        raws[label] = console.raw
    assert _HUE.search(raws["colour"]), "the console has colours without NO_COLOR"
    assert not _HUE.search(raws["NO_COLOR"]), _HUE.search(raws["NO_COLOR"])
