"""``--help`` that shows every default worth showing (not ``None``, ``False`` or ``[]``)."""

from __future__ import annotations

import argparse


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (
            action.help or ""
        ):
            return action.help or ""
        return super()._get_help_string(action)
