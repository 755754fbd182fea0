"""``prompt_parser``: the conditioning lists and how A1111 encodes a batch of prompts.

What the host depends on, as A1111 v1.10.1 does it: ``SdConditioning`` carries
``is_negative_prompt``; each *distinct* prompt is encoded once, with one text per schedule
segment (no prompt editing here: one segment); positive prompts are split on ``AND`` first, a
trailing ``:weight`` and trailing whitespace taken off each part, and equal parts encoded once.
"""

import re


class SdConditioning(list):
    def __init__(self, prompts, is_negative_prompt=False, width=None, height=None, copy_from=None):
        super().__init__()
        self.extend(prompts)
        if copy_from is None:
            copy_from = prompts
        self.is_negative_prompt = is_negative_prompt or getattr(copy_from, "is_negative_prompt", False)


class ScheduledPromptConditioning:
    def __init__(self, end_at_step, cond):
        self.end_at_step = end_at_step
        self.cond = cond


def get_learned_conditioning(model, prompts, steps, hires_steps=None, use_old_scheduling=False):
    result, cache = [], {}
    for prompt in prompts:
        if prompt in cache:
            result.append(cache[prompt])
            continue
        texts = SdConditioning([prompt], copy_from=prompts)
        conds = model.get_learned_conditioning(texts)
        schedule = [ScheduledPromptConditioning(steps, conds[0])]
        cache[prompt] = schedule
        result.append(schedule)
    return result


re_AND = re.compile(r"\bAND\b")
re_weight = re.compile(r"^((?:\s|.)*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$")


class ComposableScheduledPromptConditioning:
    def __init__(self, schedules, weight=1.0):
        self.schedules = schedules
        self.weight = weight


class MulticondLearnedConditioning:
    def __init__(self, shape, batch):
        self.shape = shape
        self.batch = batch


def get_multicond_learned_conditioning(model, prompts, steps, hires_steps=None, use_old_scheduling=False):
    indexes, flat, known = [], SdConditioning([], copy_from=prompts), {}
    for prompt in prompts:
        parts = []
        for subprompt in re_AND.split(prompt):
            match = re_weight.search(subprompt)
            text, weight = match.groups() if match else (subprompt, 1.0)
            if text not in known:
                known[text] = len(flat)
                flat.append(text)
            parts.append((known[text], float(weight) if weight is not None else 1.0))
        indexes.append(parts)
    learned = get_learned_conditioning(model, flat, steps, hires_steps, use_old_scheduling)
    batch = [[ComposableScheduledPromptConditioning(learned[i], w) for i, w in parts] for parts in indexes]
    return MulticondLearnedConditioning((len(prompts),), batch)
