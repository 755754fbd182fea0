"""Networks: a LoRA file as per-module adapters the patcher applies (kinds arrive with the patcher)."""

from .network import Network, NetworkModule, load_network

__all__ = ["Network", "NetworkModule", "load_network"]
