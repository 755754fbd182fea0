"""gradio layout: the gallery tab, the slider panel and the standalone page.

gradio only places containers here; cards and slider rows are drawn by ``javascript/loraloom.js``
from the REST routes, because their number changes with the library and the prompt (gradio 3
cannot add components at run time) and 5,000 cards must stay fast. Only APIs common to gradio
3.41 and 4.x are used.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .parse_view import render_parse
from .routes import PREFIX

TAB_ID = "loraloom-tab"
PROMPT_ID = "loraloom-prompt"
NEGATIVE_ID = "loraloom-negative"


def gallery_html() -> str:
    return f'<div id="loraloom-gallery" class="loraloom-gallery" data-api="{PREFIX}">Loading LoRAs…</div>'


def sliders_html(prompt_selector: str, negative_selector: str, panel_id: str) -> str:
    """A panel the script fills with one row per tag of the two prompts the selectors find."""
    return (
        f'<div id="{escape(panel_id)}" class="loraloom-sliders-panel" data-api="{PREFIX}" '
        f'data-prompt="{escape(prompt_selector)}" data-negative="{escape(negative_selector)}">'
        '<div class="loraloom-sliders-empty">No LoRA tags in the prompts.</div></div>'
    )


def gallery_tab() -> Any:
    """The gallery's components, created inside the caller's Blocks/Tab context."""
    import gradio as gr

    with gr.Column(elem_id=TAB_ID) as column:
        gr.HTML(gallery_html())
    return column


def slider_panel(prompt_selector: str, negative_selector: str, panel_id: str, *, open: bool = True) -> Any:
    import gradio as gr

    with gr.Accordion("LoRA weights", open=open, elem_id=f"{panel_id}-accordion") as accordion:
        gr.HTML(sliders_html(prompt_selector, negative_selector, panel_id))
    return accordion


def standalone_blocks() -> Any:
    """The standalone page: a prompt pair with sliders and a live parse view above the gallery."""
    import gradio as gr

    # System fonts: the default theme would fetch Google fonts, and nothing here may use the network.
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    with gr.Blocks(title="loraloom", analytics_enabled=False, theme=theme) as demo:
        gr.Markdown("## loraloom — LoRA gallery and tag editor")
        with gr.Row():
            with gr.Column(scale=3):
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id=PROMPT_ID)
                negative = gr.Textbox(label="Negative prompt", lines=2, elem_id=NEGATIVE_ID)
                slider_panel(f"#{PROMPT_ID} textarea", f"#{NEGATIVE_ID} textarea", "loraloom-sliders")
            with gr.Column(scale=2):
                parse_view = gr.HTML(render_parse("", ""), elem_id="loraloom-parse")
        with gr.Tabs(), gr.Tab("LoRA"):
            gallery_tab()
        for box in (prompt, negative):
            box.change(render_parse, inputs=[prompt, negative], outputs=parse_view)
    return demo
