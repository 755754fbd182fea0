"""``processing``: the attributes of ``p`` the extra-network contract reads and writes."""


class StableDiffusionProcessing:
    def __init__(self, prompt="", negative_prompt="", steps=20, batch_size=1):
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.steps = steps
        self.batch_size = batch_size
        self.extra_generation_params = {}
        self.comments = {}
        self.is_hr_pass = False
        self.hr_second_pass_steps = 0

    def setup_prompts(self):
        self.all_prompts = [self.prompt] * self.batch_size
        self.all_negative_prompts = [self.negative_prompt] * self.batch_size

    def comment(self, text):
        self.comments[text] = 1
