"""``scripts``: the Script base class, AlwaysVisible, and the runner processing calls."""


class AlwaysVisibleType:
    pass


AlwaysVisible = AlwaysVisibleType()


class Script:
    def title(self):
        raise NotImplementedError

    def show(self, is_img2img):
        return True

    def ui(self, is_img2img):
        return []

    def before_process(self, p, *args):
        pass

    def process(self, p, *args):
        pass

    def before_process_batch(self, p, *args, **kwargs):
        pass

    def process_batch(self, p, *args, **kwargs):
        pass

    def before_hr(self, p, *args):
        pass

    def postprocess(self, p, processed, *args):
        pass


class ScriptRunner:
    """The always-visible scripts of a generation, called at A1111's points, in order."""

    def __init__(self, scripts):
        self.alwayson_scripts = list(scripts)

    def _each(self, method, p, *args, **kwargs):
        for script in self.alwayson_scripts:
            getattr(script, method)(p, *args, **kwargs)

    def before_process(self, p):
        self._each("before_process", p)

    def process(self, p):
        self._each("process", p)

    def before_process_batch(self, p, **kwargs):
        self._each("before_process_batch", p, **kwargs)

    def process_batch(self, p, **kwargs):
        self._each("process_batch", p, **kwargs)

    def before_hr(self, p):
        self._each("before_hr", p)

    def postprocess(self, p, processed):
        self._each("postprocess", p, processed)
