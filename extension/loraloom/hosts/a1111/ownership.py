"""Owning the ``lora``/``lyco`` tags in A1111's extra-network registry, provably.

A1111 (and Forge) run ``before_ui`` callbacks in reverse order, so the builtin Lora extension
registers after most extensions and takes ``lora`` back; ``metadata.ini`` asks for the right
order, but it only applies when the folder is named ``loraloom``. So the host also claims the
tags at ``app_started`` (after every ``before_ui``) and checks the registry before every
generation. Whatever it displaces is kept, unloaded once (so it applies nothing while loraloom
owns the tags) and put back when the user switches the tag handling off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TAG_NAMES = ("lora", "lyco")


def owner_of(extra_networks: Any, name: str) -> Any:
    """The object A1111 would call for ``<name:…>`` (a registry entry wins over an alias)."""
    registry = getattr(extra_networks, "extra_network_registry", {})
    aliases = getattr(extra_networks, "extra_network_aliases", {})
    return registry.get(name) or aliases.get(name)


def describe(network: Any) -> str:
    kind = type(network)
    return f"{kind.__module__}.{kind.__qualname__}"


@dataclass
class TagOwnership:
    """Claims the tags for ``network`` and remembers what it displaced."""

    make_network: Callable[[], Any]
    network: Any = None
    displaced: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Tag name → (``"registry"`` or ``"alias"``, the object that held it)."""
    unload_pending: list[Any] = field(default_factory=list)
    """Displaced networks to call once with no tags, so that they unload what they applied."""
    said: set[str] = field(default_factory=set)

    def claim(self, extra_networks: Any) -> list[str]:
        """Make loraloom the owner of both tags; return what to tell the user (once each)."""
        if self.network is None:
            self.network = self.make_network()
        registry = getattr(extra_networks, "extra_network_registry", None)
        aliases = getattr(extra_networks, "extra_network_aliases", None)
        if not isinstance(registry, dict) or not isinstance(aliases, dict):
            return self._once("cannot", "cannot own the <lora:…> tags: this WebUI has no extra-network registry")
        taken = []
        for name in TAG_NAMES:
            current = owner_of(extra_networks, name)
            if current is self.network:
                continue
            if current is not None and not _is_ours(current):
                self.displaced[name] = ("registry" if registry.get(name) is current else "alias", current)
                if current not in self.unload_pending:
                    self.unload_pending.append(current)
                taken.append(describe(current))
            if name == "lora" or name in registry:
                registry[name] = self.network
            else:
                aliases[name] = self.network
        if not self.owns(extra_networks):
            holders = ", ".join(describe(owner_of(extra_networks, n)) for n in TAG_NAMES)
            return self._once("cannot", f"cannot own the <lora:…> tags (held by {holders}); the builtin handles them")
        self.said.discard("cannot")
        if taken:
            instead = ", ".join(sorted(set(taken)))
            return self._once("announced", f"handles <lora:…> and <lyco:…> tags (in place of {instead})")
        return []

    def owns(self, extra_networks: Any) -> bool:
        return self.network is not None and all(owner_of(extra_networks, n) is self.network for n in TAG_NAMES)

    def holds_any(self, extra_networks: Any) -> bool:
        return self.network is not None and any(owner_of(extra_networks, n) is self.network for n in TAG_NAMES)

    def unload_displaced(self, p: Any) -> list[str]:
        """Call each displaced network once with no tags: it removes whatever it had applied."""
        problems = []
        while self.unload_pending:
            network = self.unload_pending.pop()
            try:
                network.activate(p, [])
            except Exception as error:  # another extension's code: report, never break the generation
                problems.append(f"could not unload {describe(network)}: {error}")
        return problems

    def hand_back(self, extra_networks: Any) -> list[str]:
        """Put every displaced network back (the user switched loraloom's tag handling off)."""
        registry = getattr(extra_networks, "extra_network_registry", {})
        aliases = getattr(extra_networks, "extra_network_aliases", {})
        for table in (registry, aliases):
            for name in [n for n, v in table.items() if v is self.network]:
                del table[name]
        for name, (where, network) in self.displaced.items():
            (registry if where == "registry" else aliases)[name] = network
        self.displaced.clear()
        self.unload_pending.clear()
        self.said.clear()
        return ["hands <lora:…> tags back to the builtin (setting 'Handle <lora:…> tags' is off)"]

    def _once(self, what: str, line: str) -> list[str]:
        if what in self.said:
            return []
        self.said.add(what)
        return [line]


def _is_ours(network: Any) -> bool:
    """A loraloom network from an earlier load of the scripts (Reload UI re-creates the class)."""
    return getattr(network, "loraloom", False) is True
