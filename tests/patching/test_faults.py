"""The patcher under faults: ``apply()`` is all or nothing, overlapping patches never corrupt.

Faults are injected at every position a call can fail (the Nth buffer taken from the pool, the
Nth merge, the Nth hook attached, …); afterwards every parameter and buffer must be the very same
bits and no hook may be left. Overlapping patches are removed in every order, and two threads
applying and removing patches on one model must leave it exactly as it was.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import nn

import loraloom
from loraloom import patching
from loraloom.patching import merge, pool
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import OpenClipLikeEncoder, kind_lora_for, tiny_unet

HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


class Injected(RuntimeError):
    """The fault we raise; a torch shape error or out of memory look the same to the patcher."""


# -- checks ---------------------------------------------------------------------------------------


def snapshot(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every parameter and buffer: (the live tensor, a copy of its bits)."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return {name: (tensor.data, tensor.detach().clone()) for name, tensor in tensors}


def wrong_tensors(model: nn.Module, before: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> list[str]:
    now = {name: tensor for name, tensor in [*model.named_parameters(), *model.named_buffers()]}
    return [
        name
        for name, (live, bits) in before.items()
        if not torch.equal(now[name], bits) or now[name].data_ptr() != live.data_ptr()
    ]


def assert_untouched(model: nn.Module, before: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Bit for bit the same (the very same storage, even), no hook and no claim left."""
    wrong = wrong_tensors(model, before)
    assert not wrong, f"{len(wrong)} tensors changed, e.g. {wrong[:3]}"
    hooked = [name for name, module in model.named_modules() if any(getattr(module, d, None) for d in HOOK_DICTS)]
    assert not hooked, f"hooks left on {hooked[:3]}"
    claimed = [name for name, p in model.named_parameters() if any(k.startswith("_loraloom") for k in vars(p))]
    assert not claimed, f"claims left on {claimed[:3]}"


def merged_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def same_state(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, state[name]) for name, p in model.named_parameters())


@contextlib.contextmanager
def fail_at(owner: Any, name: str, position: int, error: BaseException, *, after: bool = False) -> Iterator[list]:
    """Make the ``position``-th call of ``owner.name`` raise ``error`` (after it ran, if
    ``after``); yields the list of calls seen, so a dry run (position -1) counts them."""
    original = getattr(owner, name)
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) - 1 == position and not after:
            raise error
        result = original(*args, **kwargs)
        if len(calls) - 1 == position:
            raise error
        return result

    setattr(owner, name, wrapper)
    try:
        yield calls
    finally:
        setattr(owner, name, original)


# -- models and networks --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("faults")
    unet = tiny_unet()
    # small networks (the first down block: 16 modules), so that failing at every position is fast
    down, up = under("down_blocks.0"), under("up_blocks.1.attentions.0")
    both, attention = under("down_blocks.0", "up_blocks.1.attentions.0"), under("down_blocks.0", having="attn")
    tensors = {
        "a": kind_lora_for(unet, "lora_unet", "lora", seed=1, select=down),
        "b": kind_lora_for(unet, "lora_unet", "lora", seed=2, rank=8, select=both),
        "c": kind_lora_for(unet, "lora_unet", "lora", seed=3, select=both),
        "full": kind_lora_for(unet, "lora_unet", "full", select=attention),
        "loha": kind_lora_for(unet, "lora_unet", "loha", select=attention),
        "down": kind_lora_for(unet, "lora_unet", "lora", seed=4, select=down),
        "up": kind_lora_for(unet, "lora_unet", "lora", seed=5, select=up),
        "clip": open_clip_lora(seed=6),
        "clip2": open_clip_lora(seed=7),
    }
    return {name: write_file(root / f"{name}.safetensors", t) for name, t in tensors.items()}


def under(*prefixes: str, having: str = "") -> Callable[[str], bool]:
    """Select modules by path prefix (and a part of the name)."""
    return lambda name: name.startswith(prefixes) and having in name


def open_clip_lora(seed: int) -> dict[str, torch.Tensor]:
    """q/k/v/out (slices of the MHA) and the MLP of both layers of ``OpenClipLikeEncoder``."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {"self_attn_q_proj": (32, 32), "self_attn_k_proj": (32, 32), "self_attn_v_proj": (32, 32)}
    shapes |= {"self_attn_out_proj": (32, 32), "mlp_fc1": (32, 128), "mlp_fc2": (128, 32)}
    tensors = {}
    for layer in range(2):
        for projection, (i, o) in shapes.items():
            stem = f"lora_te_text_model_encoder_layers_{layer}_{projection}"
            tensors[f"{stem}.lora_down.weight"] = torch.randn(4, i, generator=generator) * 0.2
            tensors[f"{stem}.lora_up.weight"] = torch.randn(o, 4, generator=generator) * 0.2
    return tensors


def encoder() -> nn.Module:
    torch.manual_seed(0)
    return OpenClipLikeEncoder()


def unet_run(unet: nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    sample, context = torch.randn(2, 4, 8, 8, generator=generator), torch.randn(2, 5, 32, generator=generator)
    with torch.no_grad():
        return unet(sample, torch.tensor([10, 500]), encoder_hidden_states=context).sample


def clip_run(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.randn(2, 6, 32, generator=torch.Generator().manual_seed(4)))


# -- 19: apply() is all or nothing ------------------------------------------------------------------

OOM = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
SHAPE = Injected("The size of tensor a (320) must match the size of tensor b (640) at non-singleton dimension 1")

# (id, where it fails: "module:object" and the attribute, the error, mode, model, networks, after
# the call ran)
SITES: list[tuple[str, str, str, BaseException, str, str, tuple[str, ...], bool]] = [
    ("pool-take", "loraloom.patching.pool:BufferPool", "take", OOM, "merge", "unet", ("a", "loha"), False),
    ("merge-add", "loraloom.patching.merge:Change", "add_into", SHAPE, "merge", "unet", ("a", "loha"), False),
    ("merge-add-late", "loraloom.patching.merge:Change", "add_into", SHAPE, "merge", "unet", ("a",), True),
    ("merge-bias", "loraloom.patching.merge:MergedWeight", "_merge_bias", OOM, "merge", "unet", ("full",), False),
    ("merge-fp16", "loraloom.patching.pool:BufferPool", "take", OOM, "merge", "unet16", ("a",), False),
    ("claim", "loraloom.patching.merge:", "claim", SHAPE, "merge", "unet", ("a",), False),
    ("build", "loraloom.patching.patch:", "build_adapter", SHAPE, "hooks", "unet", ("a", "loha"), False),
    ("hook-register", "torch.nn:Module", "register_forward_hook", SHAPE, "hooks", "unet", ("a", "loha"), False),
    ("hook-attach-late", "loraloom.patching.hooks:ModuleHook", "attach", SHAPE, "hooks", "unet", ("a", "b"), True),
    ("mha-register", "torch.nn:Module", "register_forward_hook", SHAPE, "hooks", "clip", ("clip",), False),
    ("mha-pre-register", "torch.nn:Module", "register_forward_pre_hook", SHAPE, "hooks", "clip", ("clip",), False),
    ("mha-merge-take", "loraloom.patching.pool:BufferPool", "take", OOM, "merge", "clip", ("clip", "clip2"), False),
]


def resolve(where: str) -> Any:
    module, _, name = where.partition(":")
    target = importlib.import_module(module)
    return getattr(target, name) if name else target


def make(model: str) -> tuple[nn.Module, str]:
    if model == "clip":
        return encoder(), "te1"
    return tiny_unet(dtype=torch.float16 if model == "unet16" else torch.float32), "unet"


@pytest.mark.parametrize("site", SITES, ids=[s[0] for s in SITES])
def test_a_fault_at_any_position_leaves_the_model_exactly_as_it_was(files, site) -> None:  # type: ignore[no-untyped-def]
    _, where, name, error, mode, model_name, network_names, after = site
    owner = resolve(where)
    model, part = make(model_name)
    networks = [(loraloom.load_network(files[n]), 0.7, 0.7) for n in network_names]
    before = snapshot(model)
    with fail_at(owner, name, -1, error) as calls:  # a dry run counts the positions
        loraloom.apply({part: model}, networks, mode=mode).remove()
    positions = len(calls)
    assert positions >= 2, f"{name} was called {positions} times"
    assert_untouched(model, before)
    for position in range(positions):
        with fail_at(owner, name, position, error, after=after), pytest.raises(Exception) as caught:
            loraloom.apply({part: model}, networks, mode=mode)
        assert_untouched(model, before)
        assert isinstance(caught.value, patching.PatchError), f"position {position}: {caught.value!r}"
        if not isinstance(error, patching.PatchError):
            assert isinstance(caught.value, patching.PatchFailed) and caught.value.__cause__ is error
            assert "the model is unchanged" in str(caught.value)
    # and nothing is stuck: the same networks apply and go again
    with loraloom.apply({part: model}, networks, mode=mode):
        pass
    assert_untouched(model, before)


def test_a_host_pool_is_still_usable_after_a_failed_apply(files) -> None:  # type: ignore[no-untyped-def]
    unet = tiny_unet()
    host_pool = patching.BufferPool()
    network = loraloom.load_network(files["a"])
    before = snapshot(unet)
    with fail_at(pool.BufferPool, "take", 5, OOM), pytest.raises(patching.PatchFailed):
        loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge", pool=host_pool)
    assert_untouched(unet, before)
    assert host_pool.nbytes() > 0  # the five buffers taken went back, for the next generation
    reference = merged_state(unet)
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge", pool=host_pool):
        assert not same_state(unet, reference)
    assert_untouched(unet, before)


def test_a_failure_while_re_merging_leaves_the_patch_removable(files) -> None:  # type: ignore[no-untyped-def]
    unet = tiny_unet()
    before = snapshot(unet)
    merged = loraloom.apply({"unet": unet}, [(loraloom.load_network(files["loha"]), 1.0, 1.0)], mode="merge")
    with fail_at(merge.Change, "add_into", 3, SHAPE), pytest.raises(Injected):
        merged.set_weights([0.3])
    merged.remove()
    assert_untouched(unet, before)


def test_an_attention_forward_that_raises_still_restores_its_weights(files) -> None:  # type: ignore[no-untyped-def]
    model = encoder()
    before = snapshot(model)
    attention = model.transformer.resblocks[0].attn

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Injected("out of memory in attention")

    with loraloom.apply({"te1": model}, [(loraloom.load_network(files["clip"]), 1.0, 1.0)]):
        attention.forward = broken
        with pytest.raises(Injected):
            clip_run(model)
        del attention.forward
        assert not wrong_tensors(model, before)  # not left merged until the next forward
        clip_run(model)
    assert_untouched(model, before)


# -- 20: overlapping patches ----------------------------------------------------------------------


def test_a_second_merge_of_a_merged_parameter_is_refused_and_changes_nothing(files) -> None:  # type: ignore[no-untyped-def]
    unet = tiny_unet()
    before = snapshot(unet)
    first, second = (loraloom.load_network(files[n]) for n in ("a", "b"))
    patch_a = loraloom.apply({"unet": unet}, [(first, 1.0, 1.0)], mode="merge")
    with_a = merged_state(unet)
    with pytest.raises(Exception) as caught:
        loraloom.apply({"unet": unet}, [(second, 1.0, 1.0)], mode="merge")
    assert same_state(unet, with_a)
    assert isinstance(caught.value, patching.PatchConflict)
    assert "unet:" in str(caught.value) and "already merged by another patch" in str(caught.value)
    patch_a.remove()
    assert_untouched(unet, before)
    with loraloom.apply({"unet": unet}, [(second, 1.0, 1.0)], mode="merge"):  # free again
        pass
    assert_untouched(unet, before)


def test_a_patch_dropped_without_remove_does_not_block_the_parameter_forever(files) -> None:  # type: ignore[no-untyped-def]
    import gc

    unet = tiny_unet()
    network = loraloom.load_network(files["down"])
    loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge")  # leaked: its merge stays
    gc.collect()
    leaked = snapshot(unet)
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge"):
        pass
    assert not wrong_tensors(unet, leaked)


OVERLAP = [("down", "merge"), ("up", "merge"), ("c", "hooks"), ("b", "hooks")]


def test_overlapping_patches_removed_in_any_order_restore_every_bit(files) -> None:  # type: ignore[no-untyped-def]
    """Two merges of disjoint modules and two hooks patches over both, removed in all 24 orders."""
    unet = tiny_unet()
    before = snapshot(unet)
    base = unet_run(unet)
    networks = [(loraloom.load_network(files[name]), mode) for name, mode in OVERLAP]
    reference = tiny_unet()
    specs = [(network, 0.8, 0.8) for network, _ in networks]
    with loraloom.apply({"unet": reference}, specs, mode="merge"):
        expected = unet_run(reference)
    for number, order in enumerate(itertools.permutations(range(len(OVERLAP)))):
        patches = [loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], mode=mode) for network, mode in networks]
        if number == 0:  # all four act, and add up
            torch.testing.assert_close(unet_run(unet), expected, rtol=1e-4, atol=1e-5)
        for index in order:
            patches[index].remove()
        assert_untouched(unet, before)
    assert torch.equal(unet_run(unet), base)


@pytest.mark.parametrize("modes", [("hooks", "hooks"), ("merge", "hooks"), ("hooks", "merge")])
@pytest.mark.parametrize("reverse", [False, True])
def test_stacked_patches_on_one_attention_add_up_and_unwind_in_any_order(files, modes, reverse: bool) -> None:  # type: ignore[no-untyped-def]
    model = encoder()
    before = snapshot(model)
    base = clip_run(model)
    networks = [loraloom.load_network(files[n]) for n in ("clip", "clip2")]
    reference = encoder()
    with loraloom.apply({"te1": reference}, [(networks[0], 1.0, 1.0), (networks[1], 1.0, 1.0)], mode="merge"):
        expected = clip_run(reference)
    patches = [loraloom.apply({"te1": model}, [(n, 1.0, 1.0)], mode=m) for n, m in zip(networks, modes, strict=True)]
    for _ in range(2):
        torch.testing.assert_close(clip_run(model), expected, rtol=1e-4, atol=1e-5)
    for stacked in reversed(patches) if reverse else patches:
        stacked.remove()
    assert_untouched(model, before)
    assert torch.equal(clip_run(model), base)


def test_threads_applying_and_removing_on_one_model_never_corrupt_it(files) -> None:  # type: ignore[no-untyped-def]
    """Bounded: 2 merge threads and 1 hooks thread, 30 rounds or 10 s, whichever comes first."""
    unet = tiny_unet()
    before = snapshot(unet)
    shared_pool = patching.BufferPool()  # as a host shares one per model
    networks = {name: loraloom.load_network(files[name]) for name in ("a", "b", "c")}
    expected = {}
    for name in ("a", "b"):
        with loraloom.apply({"unet": unet}, [(networks[name], 1.0, 1.0)], mode="merge"):
            expected[name] = merged_state(unet)
    failures: list[str] = []
    counts = {"applied": 0, "refused": 0}
    start = threading.Barrier(3)
    deadline = time.monotonic() + 10

    def worker(name: str, mode: str, check: Callable[[], bool]) -> None:
        start.wait()
        for round_ in range(30):
            if time.monotonic() > deadline:
                return
            try:
                applied = loraloom.apply({"unet": unet}, [(networks[name], 1.0, 1.0)], mode=mode, pool=shared_pool)
            except patching.PatchConflict:
                counts["refused"] += 1
                continue
            except Exception as error:  # any other error fails the test
                failures.append(f"{name} round {round_}: {error!r}")
                return
            counts["applied"] += 1
            if not check():
                failures.append(f"{name} round {round_}: the model is not what {name} merged")
            applied.remove()

    threads = [
        threading.Thread(target=worker, args=("a", "merge", lambda: same_state(unet, expected["a"]))),
        threading.Thread(target=worker, args=("b", "merge", lambda: same_state(unet, expected["b"]))),
        threading.Thread(target=worker, args=("c", "hooks", lambda: True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    assert counts["applied"] > 0
    assert_untouched(unet, before)
