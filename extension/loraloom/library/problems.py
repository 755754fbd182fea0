"""Problems with a LoRA file, as values the host, CLI and UI can show.

Reading code raises :class:`FileProblem` internally; the library's public calls catch it and
return it in ``problems`` lists, so one bad file never stops a scan.
"""

from __future__ import annotations

from .untrusted import display


class FileProblem(Exception):
    """A file that cannot be used as it is: what is wrong, and what the user can do.

    ``path`` is kept raw (to name the file); the text shows its display form (valid Unicode).
    """

    def __init__(self, path: str, message: str, hint: str = "") -> None:
        super().__init__(f"{display(path)}: {message}")
        self.path = path
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{display(self.path)}: {self.message}" + (f" ({self.hint})" if self.hint else "")
