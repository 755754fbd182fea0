"""``scripts``: the Script base class and AlwaysVisible."""


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

    def process(self, p, *args):
        pass
