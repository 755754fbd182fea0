"""``shared``: options, command-line options and the loaded model."""

from types import SimpleNamespace


class OptionInfo:
    def __init__(self, default=None, label="", component=None, component_args=None, section=None):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.section = section


class Options:
    def __init__(self):
        object.__setattr__(self, "data", {})
        object.__setattr__(self, "data_labels", {})

    def add_option(self, key, info):
        self.data_labels[key] = info
        self.data.setdefault(key, info.default)

    def __getattr__(self, item):
        if item in self.data:
            return self.data[item]
        if item in self.data_labels:
            return self.data_labels[item].default
        raise AttributeError(item)

    def __setattr__(self, key, value):
        self.data[key] = value


opts = Options()
opts.lora_add_hashes_to_infotext = True
cmd_opts = SimpleNamespace(lora_dir=None, lyco_dir_backcompat=None)
sd_model = None
state = SimpleNamespace(sampling_step=0, sampling_steps=0)
