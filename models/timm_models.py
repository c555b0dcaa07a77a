"""``--model timm:NAME``: any timm architecture, built for the task's input and classes.

timm is an optional extra (``pip install 'tune[timm]'``), imported only when
such a model is asked for. The model is created with the task's number of
classes and input channels (``in_chans``), and with the input's size for the
architectures that need one (vision transformers); it declares ``dropout``
(timm's ``drop_rate`` before the classifier, role regularization) as the
built-in models do (:func:`models.shape.declare_dropout`). Its classifier is
the module timm names in ``pretrained_cfg["classifier"]``, which
``--pretrained`` replaces.
"""

from __future__ import annotations

from typing import Any, Callable

from models.shape import declare_dropout
from tuner.errors import TuneError

TIMM_PREFIX = "timm:"
INSTALL_HINT = "pip install 'tune[timm]' (timm, with a torchvision that matches your torch)"


def import_timm() -> Any:
    """timm, or one clear error saying how to install it."""
    try:
        import timm
    except Exception as e:  # not installed, or a torchvision built for another torch
        raise TuneError(f"--model timm:...: timm is not usable here ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120] if str(e) else ''})", INSTALL_HINT) from None
    return timm


def build_timm(name: str) -> Callable[[Any, tuple[int, ...], int], Any]:
    """The build function of ``timm:NAME``: ``fn(hp, input_shape, num_classes)``."""
    timm = import_timm()
    if not timm.is_model(name):
        close = timm.list_models(f"*{name[:4]}*")[:5] if len(name) >= 4 else []
        raise TuneError(f"--model timm:{name}: timm has no model {name!r}",
                        f"for example {', '.join(close)}" if close else
                        "timm.list_models() lists them; for example timm:resnet18")

    def build(hp: Any, input_shape: tuple[int, ...], num_classes: int) -> Any:
        dropout = declare_dropout(hp)
        if len(input_shape) != 3:
            raise TuneError(f"--model timm:{name} needs images (channels, height, width); "
                            f"these samples have shape {tuple(input_shape)}",
                            "use --model mlp for flat features")
        kwargs = {"num_classes": num_classes, "in_chans": input_shape[0], "drop_rate": dropout}
        try:  # transformers need the image size; convolutional nets do not take it
            return timm.create_model(name, img_size=tuple(input_shape[1:]), **kwargs)
        except TypeError:
            return timm.create_model(name, **kwargs)
    return build


def hub_state_dict(name: str) -> dict[str, Any]:
    """The weights timm publishes for ``name`` (downloaded by timm into its cache)."""
    timm = import_timm()
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as e:  # no network, no weights for this name, a hub error
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"--pretrained hub: could not get timm's weights for {name} ({first[:160]})",
                        "download the weights where the hub is reachable, save them with "
                        "torch.save(model.state_dict(), 'w.pth') and pass --pretrained w.pth") from None
    return {k: v.detach() for k, v in model.state_dict().items()}
