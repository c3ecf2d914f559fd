"""Loading plugins and picking components by name (see ``vr2.plugins.hookspecs`` for the hooks)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from vr2.errors import MissingExtra, Vr2Error
from vr2.plugins import hookspecs
from vr2.plugins.hookspecs import hookimpl  # noqa: F401  (kept importable from here)

ENTRY_POINT_GROUP = "vr2"
BUILTIN = "vr2-builtin"
BUILTIN_MODULES = ("vr2.scoring.builtins", "vr2.judge.builtins", "vr2.train.builtins", "vr2.eval.builtins",
                   "vr2.curate.builtins")
ENV_VAR = "VR2_PLUGINS"

# hook name -> what the component is called in messages and in `vr2 plugins`
KINDS = {
    "vr2_claim_extractors": "extractor",
    "vr2_embedders": "embedder",
    "vr2_consistency_checkers": "consistency",
    "vr2_trainer_backends": "backend",
    "vr2_eval_engines": "engine",
    "vr2_judges": "judge",
    "vr2_teachers": "teacher",
    "vr2_rewards": "reward",
}

# Components that live in separate packages: the install command goes into the error.
INSTALL_HINTS = {
    ("engine", "vllm"): "pip install ./plugins/vr2-vllm",
    ("backend", "openrlhf"): "pip install ./plugins/vr2-openrlhf",
}


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    plugin: str
    factory: Callable[..., Any]


def _wanted_entry_points() -> set[str] | None:
    """Entry-point names allowed by VR2_PLUGINS; None means all."""
    value = os.environ.get(ENV_VAR)
    if value is None:
        return None
    names = {part.strip() for part in value.split(",") if part.strip()}
    return set() if names <= {"none"} else names


_SOURCES: dict[str, str] = {}  # plugin name -> the distribution that shipped it


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    wanted = _wanted_entry_points()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken third-party plugin must not take vr2 down silently
            raise Vr2Error(f"plugin '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
        pm.register(plugin, name=ep.name)
        _SOURCES[ep.name] = ep.dist.name if ep.dist else ep.value


def is_builtin(plugin_name: str) -> bool:
    return plugin_name.split(":")[0] == BUILTIN


@lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager: built-ins plus allowed entry points."""
    pm = pluggy.PluginManager("vr2")
    pm.add_hookspecs(hookspecs)
    for module in BUILTIN_MODULES:
        # By name, like entry points: the registry sits below the layers whose components it lists.
        pm.register(importlib.import_module(module), name=f"{BUILTIN}:{module.split('.')[1]}")
    _load_entry_points(pm)
    return pm


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object at run time (tests, notebooks)."""
    pm = plugin_manager()
    pm.register(plugin, name=name)


def unregister(name: str) -> None:
    plugin_manager().unregister(name=name)


def components(hook: str) -> dict[str, Component]:
    """All components one hook offers, by name; a name offered twice is an error naming both."""
    pm = plugin_manager()
    caller = getattr(pm.hook, hook)
    found: dict[str, Component] = {}
    for impl in caller.get_hookimpls():
        for name, factory in (impl.function() or {}).items():
            if name in found:
                raise Vr2Error(
                    f"{KINDS[hook]} '{name}' is offered by both plugin '{found[name].plugin}' "
                    f"and plugin '{impl.plugin_name}'"
                )
            found[name] = Component(KINDS[hook], name, impl.plugin_name, factory)
    return found


def create(hook: str, name: str, **options: Any) -> Any:
    """Build the component called `name`; unknown names list the known ones."""
    available = components(hook)
    if name not in available:
        hint = INSTALL_HINTS.get((KINDS[hook], name))
        if hint:
            raise MissingExtra(f"vr2-{name}", hint)
        known = ", ".join(sorted(available)) or "none"
        raise Vr2Error(f"unknown {KINDS[hook]} '{name}' (installed: {known})")
    return available[name].factory(**options)


def make_extractor(name: str = "rule", **options: Any) -> Any:
    return create("vr2_claim_extractors", name, **options)


def make_embedder(name: str = "minilm", **options: Any) -> Any:
    return create("vr2_embedders", name, **options)


def make_consistency(name: str = "rule", **options: Any) -> Any:
    return create("vr2_consistency_checkers", name, **options)


def make_backend(name: str = "trl", **options: Any) -> Any:
    return create("vr2_trainer_backends", name, **options)


def make_engine(name: str, recipe: Any) -> Any:
    return create("vr2_eval_engines", name, recipe=recipe)


def plugin_rows() -> list[dict[str, Any]]:
    """One row per loaded plugin: its name, where it comes from and what it offers."""
    pm = plugin_manager()
    rows = []
    for name, plugin in pm.list_name_plugin():
        offers = []
        for hook, kind in KINDS.items():
            impls = [i for i in getattr(pm.hook, hook).get_hookimpls() if i.plugin is plugin]
            for impl in impls:
                offers += [f"{kind}:{n}" for n in (impl.function() or {})]
        source = _SOURCES.get(name, "built-in" if is_builtin(name) else "registered at run time")
        rows.append({"plugin": name, "source": source, "offers": offers})
    return rows
