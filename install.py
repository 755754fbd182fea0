"""A1111's install hook: run by the host (``python install.py``) on every launch.

Installs only what the host lacks. A stock A1111 (and Forge) already ships every library
loraloom needs, so this normally does nothing; it never touches a package that is present, so
it cannot move one of the host's pins.
"""

import launch  # provided by A1111 on PYTHONPATH when it runs this file

# distribution name -> requirement to install when missing (ranges the host's pins satisfy)
REQUIREMENTS = {
    "lark": "lark>=1.1.2",
    "safetensors": "safetensors>=0.4.2",
    "numpy": "numpy>=1.26",
}

for distribution, requirement in REQUIREMENTS.items():
    if not launch.is_installed(distribution):
        launch.run_pip(f'install "{requirement}"', f"loraloom requirement: {requirement}")
