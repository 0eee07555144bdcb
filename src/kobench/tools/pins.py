"""``kobench models --pin``: pin catalogue rows to the current head commit of their hub repository.

params.yaml is edited in place, one value at a time (the ``revision:`` of each row, or a new line after its
``id:``), so that its comments and layout stay as the user wrote them; the edited text is validated as a whole
before it replaces the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kobench.atomic import write_text
from kobench.config import ModelParams, Params, Yaml12Loader, params_from_text
from kobench.errors import KobenchError

PIN_COMMAND = "kobench models --pin"


@dataclass(frozen=True)
class Pin:
    """One row's pin before and after."""

    key: str
    repo: str
    old: str | None
    new: str


def hub_head(key: str, row: ModelParams) -> str:
    """The full commit at the head of ``row``'s hub repository (its default branch); one line on any failure."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE:
        raise KobenchError(f"{PIN_COMMAND} needs the network: HF_HUB_OFFLINE is set; unset it and run it again")
    try:
        sha = HfApi().model_info(row.id).sha
    except RepositoryNotFoundError:
        raise KobenchError(f"model '{key}': {row.id} is not a repository on {constants.ENDPOINT}") from None
    except (HfHubHTTPError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise KobenchError(f"model '{key}': cannot read {row.id}'s head from {constants.ENDPOINT} ({first[:160]})") from None
    if not sha:
        raise KobenchError(f"model '{key}': {constants.ENDPOINT} gave no commit for {row.id}")
    return sha


def is_hub_row(row: ModelParams) -> bool:
    """Whether ``row`` names a hub repository (not a local directory)."""
    return not row.local_only and not Path(row.id).is_dir()


def hub_rows(params: Params, keys: list[str] | None) -> list[str]:
    """The rows of ``keys`` to pin (default: every hub row); a local row named explicitly is one line."""
    if not keys:
        return [key for key, row in params.models.items() if is_hub_row(row)]
    for key in keys:
        if not is_hub_row(params.models[key]):
            raise KobenchError(f"model '{key}': {params.models[key].id} is a local directory, not a hub repository; "
                               "nothing to pin")
    return list(keys)


def pin_rows(params_file: Path, params: Params, keys: list[str]) -> list[Pin]:
    """Resolve each row's head and write it into ``params_file`` (atomically); returns what changed and what did not."""
    pins = [Pin(k, params.models[k].id, params.models[k].revision, hub_head(k, params.models[k])) for k in keys]
    changed = [pin for pin in pins if pin.new != pin.old]
    text = params_file.read_text(encoding="utf-8")
    for pin in changed:
        text = set_revision(text, pin.key, pin.new, source=params_file)
    if changed:  # an unchanged file is not rewritten
        params_from_text(text, params_file)  # the edited file must load as a whole before it replaces the old one
        write_text(params_file, text)
    return pins


def set_revision(text: str, key: str, revision: str, source: Path) -> str:
    """``text`` with ``models.<key>.revision`` set to ``revision``, every other character unchanged."""
    row = _mapping_value(_mapping_value(yaml.compose(text, Loader=yaml.SafeLoader), "models", source), key, source)
    if not revision.isalnum():
        raise KobenchError(f"models.{key}: the hub gave {revision!r}, not a commit id")
    if not isinstance(yaml.load(revision, Loader=Yaml12Loader), str):  # noqa: S506 - all digits (or 1e5…) reads as a number
        revision = f"'{revision}'"
    found = _entry(row, "revision")
    if found is not None:
        value = found[1]
        return text[: value.start_mark.index] + revision + text[value.end_mark.index :]
    id_entry = _entry(row, "id")
    if id_entry is None:
        raise KobenchError(f"{source}: models.{key} has no id")
    id_key, id_value = id_entry
    line_end = text.find("\n", id_value.end_mark.index)
    line_end = len(text) if line_end < 0 else line_end
    indent = " " * id_key.start_mark.column
    return text[:line_end] + f"\n{indent}revision: {revision}" + text[line_end:]


def _entry(node: yaml.Node, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == name:
                return key_node, value_node
    return None


def _mapping_value(node: yaml.Node | None, name: str, source: Path) -> yaml.Node:
    found = _entry(node, name) if node is not None else None
    if found is None or not isinstance(found[1], yaml.MappingNode) or found[1].flow_style:
        raise KobenchError(f"{source}: {name} is not a block mapping; edit its revision by hand")
    return found[1]
