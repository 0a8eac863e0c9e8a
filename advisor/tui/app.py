"""The advisor's Textual app: three screens (advise, calibrate, profile) and help."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Markdown

from advisor.calibration import MeterOptions
from advisor.render import energy_label

HELP = """\
# Energy advisor — keys

| key | what |
| --- | --- |
| `a` | **Advise**: set dataset, accuracy budget, confidence, constraints; the table updates as you type |
| `c` | **Calibrate**: run or resume a calibration / probe with a budget; `s` start, `x` cancel |
| `p` | **Profile**: hardware, meter kinds, fit diagnostics, tier capacities |
| `?` | this help (`escape` closes) |
| `q` | quit |

Energies from the estimate meter are labelled ESTIMATED everywhere.
"""


class HelpScreen(ModalScreen):
    """Key bindings and what each screen does."""

    BINDINGS = [("escape", "dismiss", "Close")]

    def compose(self):
        yield Markdown(HELP, id="help-view")


class AdvisorApp(App):
    """advise / calibrate / profile, with the same library calls as the CLI."""

    CSS_PATH = "advisor.tcss"
    TITLE = "energy advisor"
    BINDINGS = [
        Binding("a", "switch_mode('advise')", "Advise"),
        Binding("c", "switch_mode('calibrate')", "Calibrate"),
        Binding("p", "switch_mode('profile')", "Profile"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        profile_path: Path | None = None,
        store: Path | None = None,
        meter: MeterOptions | None = None,
        window_s: float = 0.25,
    ) -> None:
        super().__init__()
        import advisor

        self.profile = advisor.load_profile(profile_path)
        self.store, self.meter, self.window_s = store, meter, window_s
        self.sub_title = f"{self.profile.display_name} · {energy_label(self.profile.estimated)}"

    def on_mount(self) -> None:
        from advisor.tui.advise import AdviseScreen
        from advisor.tui.calibrate import CalibrateScreen
        from advisor.tui.profile import ProfileScreen

        self.add_mode("advise", lambda: AdviseScreen(self.profile))
        self.add_mode("calibrate", lambda: CalibrateScreen(self.store, self.meter, self.window_s))
        self.add_mode("profile", lambda: ProfileScreen(self.profile))
        self.switch_mode("advise")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
