"""ConsoleVerbs: what every group of the console's verbs shares: the station's API, and how a
verb shows its result, refuses its line or gives its usage. Each of the last two, and a command
that failed or is not done, fails the line (``failed``: a script or ``-c`` stops on it)."""
from __future__ import annotations

from typing import Any

from ground_sim.api import IntegrationApi
from ground_sim.station import CommandRecord


class ConsoleVerbs:
    api: IntegrationApi
    failed: bool = False

    def show(self, result: Any) -> None:
        """Print a verb's result; a command that failed or is not done fails the line."""
        print(result)
        if isinstance(result, CommandRecord) and (result.failure is not None or not result.done):
            self.failed = True

    def refuse(self, error: Any) -> None:
        print(f"refused: {error}")
        self.failed = True

    def usage(self, text: str) -> None:
        print(f"usage: {text}")
        self.failed = True
