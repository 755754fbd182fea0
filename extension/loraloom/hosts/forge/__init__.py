"""Forge and reForge: their model parts, their layers and their UNet calls, on the A1111 host.

Both run A1111's extension machinery (scripts, callbacks, the extra-network registry,
``prompt_parser``), so the A1111 host drives them; what differs is chosen by feature, never by
a version string: where the model's parts live (:mod:`.parts`), which layer classes there are
(:mod:`.binding`) and how a UNet call's rows are laid out (:mod:`.rows`).
"""
