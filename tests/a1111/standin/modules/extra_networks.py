"""``extra_networks``: the tag regex, params, the registry and the activate/deactivate calls."""

import re
from collections import defaultdict

re_extra_net = re.compile(r"<(\w+):([^>]+)>")
extra_network_registry = {}
extra_network_aliases = {}


def initialize():
    extra_network_registry.clear()
    extra_network_aliases.clear()


def register_extra_network(extra_network):
    extra_network_registry[extra_network.name] = extra_network


def register_extra_network_alias(extra_network, alias):
    extra_network_aliases[alias] = extra_network


class ExtraNetworkParams:
    def __init__(self, items=None):
        self.items = items or []
        self.positional = []
        self.named = {}
        for item in self.items:
            parts = item.split("=", 2) if isinstance(item, str) else [item]
            if len(parts) == 2:
                self.named[parts[0]] = parts[1]
            else:
                self.positional.append(item)


class ExtraNetwork:
    def __init__(self, name):
        self.name = name

    def activate(self, p, params_list):
        raise NotImplementedError

    def deactivate(self, p):
        raise NotImplementedError


def parse_prompt(prompt):
    found = defaultdict(list)

    def take(match):
        found[match.group(1)].append(ExtraNetworkParams(items=match.group(2).split(":")))
        return ""

    return re_extra_net.sub(take, prompt), found


def parse_prompts(prompts):
    """Every prompt is stripped; only the first prompt's networks are returned (A1111's rule)."""
    data = None
    stripped = []
    for prompt in prompts:
        text, found = parse_prompt(prompt)
        data = found if data is None else data
        stripped.append(text)
    return stripped, data


def lookup_extra_networks(extra_network_data):
    """Network object → the params of every tag name it answers (``lora`` and ``lyco`` together),
    in a new list (the params objects themselves are the parse's), as A1111 v1.10.1 does."""
    found = {}
    for name, args in list(extra_network_data.items()):
        network = extra_network_registry.get(name)
        alias = extra_network_aliases.get(name)
        if alias is not None and network is None:
            network = alias
        if network is None:
            continue
        found.setdefault(network, []).extend(args)
    return found


def activate(p, extra_network_data):
    """Each network once with its params, then every registered network not called yet with an
    empty list."""
    activated = []
    for network, args in lookup_extra_networks(extra_network_data).items():
        network.activate(p, args)
        activated.append(network)
    for network in extra_network_registry.values():
        if network not in activated:
            network.activate(p, [])


def deactivate(p, extra_network_data):
    for network in extra_network_registry.values():
        network.deactivate(p)
