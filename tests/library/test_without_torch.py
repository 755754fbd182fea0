"""The library needs no torch for safetensors files (also run on Python 3.10 with A1111's pins)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file


def test_inspect_a_numpy_written_file_without_importing_torch(tmp_path) -> None:
    rng = np.random.default_rng(0)
    stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {
        f"{stem}.lora_down.weight": rng.standard_normal((8, 768)).astype(np.float16),
        f"{stem}.lora_up.weight": rng.standard_normal((320, 8)).astype(np.float16),
        f"{stem}.alpha": np.array(4.0, dtype=np.float16),
    }
    save_file(tensors, str(tmp_path / "x.safetensors"), metadata={"ss_output_name": "ex"})
    code = (
        "import sys, io, contextlib, json\n"
        "from loraloom.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    status = main(['inspect', {str(tmp_path)!r}, '--json'])\n"
        "result = {'status': status, 'records': json.loads(out.getvalue()), 'torch': 'torch' in sys.modules}\n"
        "print(json.dumps(result))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 0 and result["torch"] is False
    (record,) = result["records"]
    assert (record["family"], record["kinds"], record["rank"], record["alpha"]) == ("sd1", {"lora": 1}, 8, 4.0)
    assert record["alias"] == "ex" and len(record["sha256"]) == 64
