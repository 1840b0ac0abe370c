"""Prompt templates, one plain-text file each; swap any of them by passing your own string.

Templates use ``str.format`` fields (``{goal}``...); literal braces must be doubled.

Example:
    >>> from langgraph_collab.roles.prompts import load_prompt
    >>> "{terminate}" in load_prompt("simulated_user")
    True
"""

from __future__ import annotations

from importlib import resources


def load_prompt(name: str) -> str:
    """The text of the bundled prompt ``name`` (a file ``prompts/<name>.txt``)."""
    try:
        return resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ValueError(f"No bundled prompt named {name!r}") from error


def render(template: str, **values: object) -> str:
    """Fill ``template``'s fields, naming any field it needs and was not given."""
    try:
        return template.format(**values)
    except KeyError as error:
        raise ValueError(
            f"Prompt template needs the field {error}; available: {sorted(values)}"
        ) from error
