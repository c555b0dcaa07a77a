"""Weight initialisation schemes for the built-in models.

``kaiming``: normal with std = sqrt(2 / fan_in). ReLU zeroes half of its
inputs, so keeping the activation variance constant layer after layer needs
the factor 2 (He et al., 2015). The output layer has no ReLU after it, so it
gets std = sqrt(1 / fan_in): logits of about unit scale, and an initial loss
near -log(1/C) rather than twice that. ``xavier``: std = sqrt(2 / (fan_in + fan_out)),
right for tanh-like units, slowly vanishing under ReLU. ``normal``: a fixed std
(``init_scale``) for every layer, the classic way to make activations vanish
(too small) or explode (too large) in a deep net.
"""

from __future__ import annotations

from torch import nn

INIT_SCHEMES = ("kaiming", "xavier", "normal")


def declare_init(hp) -> tuple[str, float]:
    """Declare ``init`` and ``init_scale``; settings, not searched by default."""
    scheme = hp.choice("init", list(INIT_SCHEMES), default="kaiming", search=False)
    scale = hp.float("init_scale", 1e-4, 1.0, log=True, default=0.01, search=False)
    return scheme, scale


def initialise(model: nn.Module, scheme: str, scale: float) -> None:
    """Initialise every Linear and Conv layer; biases start at zero."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    for layer in layers:
        if scheme == "kaiming":
            head = layer is layers[-1]
            nn.init.kaiming_normal_(layer.weight, nonlinearity="linear" if head else "relu")
        elif scheme == "xavier":
            nn.init.xavier_normal_(layer.weight)
        else:
            nn.init.normal_(layer.weight, std=scale)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
