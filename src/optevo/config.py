"""The configuration layer: every configuration of optevo is a pydantic model built here.

- one base model (`StrictModel`: unknown fields refused, frozen);
- one YAML loader (`read_yaml`), one merge rule (`merge`: mappings merge key by key, any
  other value replaces), one override syntax (`apply_overrides`: dotted keys,
  `strategy.particles=4`);
- presets discovered from `optevo/configs/<kind>/*.yaml` (`preset_names`, `preset_dict`); a
  mapping's `preset: NAME` key starts it from that preset (`expand_preset`);
- one error type (`ConfigError`) whose message names the source, the field, the value (cut
  short) and the reason, on one line (`format_errors`).

    from optevo.config import load
    from optevo.search.config import RunConfig
    config = load(RunConfig, "search", "my-run.yaml", {"strategy.particles": 4})
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError

KINDS: tuple[str, ...] = ("fitness", "search")
"""The preset folders under `optevo/configs/`."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field and the value."""


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
"""An int field that refuses true/false (pydantic alone reads true as 1)."""
Float = Annotated[float, BeforeValidator(_no_bool)]
"""A float field that refuses true/false."""


class StrictModel(BaseModel):
    """The base of every configuration: unknown fields are refused, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- presets -----------------------------------------------------------------------------------


def _folder(kind: str) -> Any:
    if kind not in KINDS:
        raise ConfigError(f"unknown preset kind {kind!r}; known: {', '.join(KINDS)}")
    return resources.files("optevo").joinpath("configs", kind)


def preset_names(kind: str) -> tuple[str, ...]:
    """The presets of a kind, found in `optevo/configs/<kind>/`, sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in _folder(kind).iterdir()
            if entry.name.endswith(".yaml")
        )
    )


def preset_dict(kind: str, name: str) -> dict[str, Any]:
    """The fields of a preset, as written in its YAML file (a preset may name another
    `preset:` of its kind to start from)."""
    if not isinstance(name, str) or name not in preset_names(kind):
        raise ConfigError(
            f"unknown {kind} preset {short(repr(name))}; known: {', '.join(preset_names(kind))}"
        )
    raw = parse_yaml(_folder(kind).joinpath(f"{name}.yaml").read_text(), f"{kind} preset {name}")
    return expand_preset(kind, raw)


def expand_preset(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` merged over the preset its `preset:` key names (`raw` itself when it names none)."""
    if "preset" not in raw:
        return raw
    rest = dict(raw)
    name = rest.pop("preset")
    return merge(preset_dict(kind, name), rest)


# -- YAML, merging, overrides ------------------------------------------------------------------


MAX_VALUES = 100_000
"""A configuration holds at most this many values once YAML aliases are expanded (a few
hundred in practice): an alias bomb is refused before anything copies or prints it."""

MAX_DEPTH = 64
"""Mappings and lists nest at most this deep."""


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # (no stubs for yaml)
    """YAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                break  # unhashable: the base class reports it
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ConfigError(f"line {line}: the key {short(repr(key), 60)} is given twice")
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def safe_load(text: str, source: str) -> Any:
    """YAML text as plain values: safe tags only, no key twice, at most MAX_VALUES values after
    aliases are expanded, nested at most MAX_DEPTH deep."""
    try:
        value = yaml.load(text, Loader=_Loader)  # a SafeLoader: safe tags only
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({_yaml_problem(exc)})") from None
    check_size(value, source)
    return value


def _yaml_problem(exc: Exception) -> str:
    """A YAML error on one line: where and what."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
    return short(" ".join(f"{where}{problem}".split()), 160)


def check_size(value: Any, source: str) -> None:
    """Refuse a value nested deeper than MAX_DEPTH or holding more than MAX_VALUES values,
    counting every use of a shared (aliased) part; stops as soon as a limit is passed."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(
                f"{source}: more than {MAX_VALUES:,} values (YAML aliases expanding?); "
                "a configuration holds a few hundred"
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A mapping from YAML text (an empty document is an empty mapping)."""
    raw = safe_load(text, source)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: a config holds a mapping of fields (e.g. `seed: 3`), "
            f"this one holds {_kind(raw)}"
        )
    return {str(k): v for k, v in raw.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML config file; every problem is a ConfigError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a YAML config file")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot read config file {path}: {reason}") from None
    return parse_yaml(text, str(path))


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: mappings merge key by key, any other value replaces (copies)."""
    out = {k: (merge({}, v) if isinstance(v, dict) else v) for k, v in base.items()}
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = merge({}, v) if isinstance(v, dict) else v
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`strategy.particles`, `fitness.base`) in a copy of `raw`."""
    out = merge({}, raw)
    for key, value in overrides.items():
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"bad override key {key!r}")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"cannot set {key!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def parse_assignments(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    """`KEY=VALUE` pairs (the command line's one override syntax), each value read as YAML."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} takes KEY=VALUE, got {short(repr(pair))}")
        overrides[key.strip()] = safe_load(value, f"{option} {short(repr(pair), 60)}")
    return overrides


# -- building ----------------------------------------------------------------------------------


def known(value: str, names: Iterable[str], what: str) -> str:
    """`value` when it is one of `names`, else ValueError: "unknown WHAT 'x'; known: a, b"
    (for field validators)."""
    names = tuple(names)
    if value not in names:
        raise ValueError(f"unknown {what} {short(repr(value), 60)}; known: {', '.join(names)}")
    return value


@overload
def build(model: type[M], raw: Any, source: str = "config") -> M: ...


@overload
def build(model: TypeAdapter[T], raw: Any, source: str = "config") -> T: ...


def build(model: type[M] | TypeAdapter[T], raw: Any, source: str = "config") -> M | T:
    """`model` (a model class, or a `TypeAdapter` of a union of models) from a mapping; every
    problem is one ConfigError line naming the field."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_errors(exc)}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {short(str(exc))}") from None


def load(model: type[M], kind: str, path: str | Path, overrides: dict[str, Any] | None = None) -> M:
    """`model` from a YAML file that may name a `preset:` of `kind` to start from, with
    dotted `overrides` applied last."""
    raw = expand_preset(kind, read_yaml(path))
    return build(model, apply_overrides(raw, overrides or {}), str(path))


def from_preset(model: type[M], kind: str, name: str, overrides: dict[str, Any] | None = None) -> M:
    """`model` from a preset of `kind`, with dotted `overrides` applied."""
    raw = apply_overrides(preset_dict(kind, name), overrides or {})
    return build(model, raw, f"{kind} preset {name!r}")


UNION_TAGS = frozenset({"single", "suite"})
"""The tags of the fitness protocols' union (`optevo.fitness.config`): pydantic puts the tag
in an error's path (`fitness.single.base`); the path a user wrote has none."""


def _without_tags(loc: Sequence[int | str]) -> list[int | str]:
    """An error's path without the union's tag (at the start, or after a `...fitness` key)."""
    out: list[int | str] = []
    for i, part in enumerate(loc):
        after_fitness = i > 0 and str(loc[i - 1]).endswith("fitness")
        if part in UNION_TAGS and (i == 0 or after_fitness) and i + 1 < len(loc):
            continue
        out.append(part)
    return out


def format_errors(exc: ValidationError) -> str:
    """`field.path: reason (got VALUE)` for each problem, joined by '; ' (values cut short;
    mappings not shown; a problem of the whole document, e.g. of a model validator that
    names its own field, without a path)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in _without_tags(e["loc"]))
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {_shown(got)})"
        reason = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {reason}{shown}" if loc else f"{reason}{shown}")
    return "; ".join(parts)


def _shown(value: Any, limit: int = 80) -> str:
    """A value for an error message, never the whole of a big one."""
    if isinstance(value, list | tuple) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    return short(repr(value), limit)


def short(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def cut_middle(text: str, limit: int = 1000) -> str:
    """`text` at most about `limit` characters: its start and its end (where an error line
    says what is wrong), with how much was cut between them."""
    if len(text) <= limit:
        return text
    head, tail = (2 * limit) // 3, limit // 3
    return f"{text[:head]} ... ({len(text) - head - tail:,} characters cut) ... {text[-tail:]}"


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
