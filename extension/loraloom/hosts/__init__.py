"""Hosts: thin adapters that decide *when* the core applies LoRAs (A1111, diffusers)."""
