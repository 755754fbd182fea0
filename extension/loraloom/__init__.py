"""loraloom: LoRA support for Stable Diffusion WebUIs.

Importing the package is cheap and never imports torch or gradio; the tag language lives in
:mod:`loraloom.syntax`.
"""

__version__ = "0.1.0"
