"""Gallery with 5,000 LoRAs: page ready, keystroke-to-filter and scroll times in a real browser.

Writes 5,000 small real LoRA files (SD1/SDXL shapes, metadata, some previews and trigger-word
sidecars), serves them with ``loraloom ui`` and drives Debian's chromium. Printed as times and as
ratios against references measured in the same run: page ready against gradio's own first paint
of the same page (the prompt box), keystroke and scroll against one 60 Hz frame (16.7 ms).

    .venv/bin/python benchmarks/gallery_5000.py [--count 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from safetensors.numpy import save_file

from loraloom.samples import preview_png

FRAME_MS = 1000 / 60
WORDS = [
    "ink",
    "fox",
    "moon",
    "neon",
    "paper",
    "glass",
    "storm",
    "amber",
    "velvet",
    "pixel",
    "chrome",
    "forest",
    "river",
    "ember",
    "frost",
    "silk",
]
MODULES = {
    "sd1": ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320),
    "sdxl": ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 2048, 640),
}


def write_library(folder: str, count: int) -> None:
    rng = random.Random(5000)
    for index in range(count):
        family = "sdxl" if index % 3 == 0 else "sd1"
        stem, n_in, n_out = MODULES[family]
        name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{index:04d}"
        sub = os.path.join(folder, f"pack{index % 40:02d}")
        os.makedirs(sub, exist_ok=True)
        base = os.path.join(sub, name)
        tensors = {
            f"{stem}.lora_down.weight": np.zeros((1, n_in), np.float16),
            f"{stem}.lora_up.weight": np.zeros((n_out, 1), np.float16),
            f"{stem}.alpha": np.array(1.0, np.float16),
        }
        tags = {rng.choice(WORDS): rng.randint(1, 50) for _ in range(5)}
        metadata = {"ss_output_name": name, "ss_tag_frequency": json.dumps({"1_x": tags})}
        save_file(tensors, base + ".safetensors", metadata=metadata)
        if index % 4 == 0:
            with open(base + ".txt", "w") as handle:
                handle.write(", ".join(rng.sample(WORDS, 2)))
        if index % 10 == 0:
            with open(base + ".preview.png", "wb") as handle:
                handle.write(preview_png((rng.randint(0, 255), 90, 140), index, size=96))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_idle(url: str, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(url + "/loraloom/v1/ui/progress", timeout=5) as response:
                if json.load(response)["phase"] == "idle":
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


MEASURE_FILTER = """async (query) => {
    const input = document.querySelector('#loraloom-search');
    const t0 = performance.now();
    input.value = query;
    input.dispatchEvent(new Event('input', {bubbles: true}));
    const t1 = performance.now();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    return [t1 - t0, performance.now() - t0, document.querySelector('.loraloom-count').textContent];
}"""

MEASURE_SCROLL = """async () => {
    const scroller = document.querySelector('.loraloom-scroller');
    const times = [];
    for (let i = 1; i <= 20; i++) {
        const t0 = performance.now();
        scroller.scrollTop = (scroller.scrollHeight * i) / 21;
        scroller.dispatchEvent(new Event('scroll'));
        times.push(performance.now() - t0);
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    }
    return [Math.max(...times), times.reduce((a, b) => a + b) / times.length,
            document.querySelectorAll('.loraloom-card').length];
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_library(os.path.join(folder, "loras"), args.count)
        print(f"wrote {args.count} LoRA files in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(folder, "cache")}
        command = [
            sys.executable,
            "-m",
            "loraloom",
            "ui",
            "--lora-dir",
            os.path.join(folder, "loras"),
            "--port",
            str(port),
        ]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            print(f"server: every header read and file hashed in the background in {wait_idle(url):.1f} s")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1360, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#loraloom-prompt textarea")
                gradio_ready = page.evaluate("performance.now()")
                page.wait_for_selector(".loraloom-card")
                cards_ready = page.evaluate("performance.now()")
                print(
                    f"page ready: gradio's prompt box at {gradio_ready:.0f} ms, first cards at {cards_ready:.0f} ms "
                    f"(ratio {cards_ready / gradio_ready:.2f} of gradio's own first paint)"
                )
                for query in ("n", "ne", "neo", "neon", "neon fox", "pack07", ""):
                    handler, painted, count = page.evaluate(MEASURE_FILTER, query)
                    print(
                        f"search {query!r:12}: filter+draw {handler:5.1f} ms, to next frame {painted:5.1f} ms "
                        f"({handler / FRAME_MS:.2f} frames) → {count}"
                    )
                worst, mean, in_dom = page.evaluate(MEASURE_SCROLL)
                print(
                    f"scroll: draw {mean:.1f} ms mean, {worst:.1f} ms worst ({worst / FRAME_MS:.2f} frames); "
                    f"{in_dom} cards in the DOM of {args.count}"
                )
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
