"""Stand-in for the builtin Lora extension's registration (not its code): in ``before_ui`` it
registers an extra network for ``lora`` with the alias ``lyco``, as the builtin does, and
counts what it is asked to apply — while loraloom owns the tags it must be asked for nothing."""

from typing import ClassVar

from modules import extra_networks, script_callbacks


class ExtraNetworkLora(extra_networks.ExtraNetwork):
    applied: ClassVar[list] = []
    """Every non-empty ``activate`` call's tag items (class-level: survives re-registration)."""
    unloads = 0

    def __init__(self):
        super().__init__("lora")

    def activate(self, p, params_list):
        if params_list:
            ExtraNetworkLora.applied.append([list(params.items) for params in params_list])
        else:
            ExtraNetworkLora.unloads += 1

    def deactivate(self, p):
        pass


def before_ui():
    network = ExtraNetworkLora()
    extra_networks.register_extra_network(network)
    extra_networks.register_extra_network_alias(network, "lyco")


script_callbacks.on_before_ui(before_ui)
