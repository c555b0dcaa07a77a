"""Reading pretrained weights into a name -> tensor mapping.

``--pretrained FILE`` accepts:

* a ``model.pt`` written by ``tune train``/``tune run`` (its ``state_dict``,
  and its class names and hyperparameters, which say whether its head fits
  and which architecture it was);
* a plain state_dict saved with ``torch.save(model.state_dict(), ...)``
  (``.pt``, ``.pth``, ``.bin``), or a dict holding one under ``state_dict``
  or ``model``; a ``module.`` prefix on every name (``nn.DataParallel``) is
  dropped;
* a ``.safetensors`` file.

Every torch file is read with ``weights_only=True``: no code in it runs.
``hub`` is the weights timm publishes for a ``--model timm:NAME``, fetched
by timm (the only path here that needs the network).

A search builds the model once per trial, so a file is read once per process
(cached by its path and hash).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuner.errors import TuneError
from tuner.recipe import Recipe, WeightsRef

# tuner.checkpoint.FORMAT, repeated: importing tuner.checkpoint here would close an import
# cycle (checkpoint.load builds through the experiment, which loads weights through this).
CHECKPOINT_FORMAT = "tune-checkpoint"
HINT = ("give a model.pt from tune train, or a state_dict saved with torch.save(model.state_dict(), "
        "PATH) as .pt/.pth, or a .safetensors file")


@dataclass(frozen=True)
class Weights:
    """Pretrained tensors by name, with what a tune checkpoint says about them."""

    tensors: dict[str, torch.Tensor]
    where: str
    classes: list[str] | None = None  # a tune checkpoint's class names, index by index
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # a tune checkpoint's
    made_by: list[str] = field(default_factory=list)  # a tune checkpoint's --task/--model/--data


def read_weights(ref: WeightsRef, model: str | None = None) -> Weights:
    """The tensors ``ref`` names (``model`` is the ``--model``, for ``hub``).

    Raises:
        TuneError: an unreadable file, a file without tensors, or the hub without timm.
    """
    if ref.is_hub:
        return _hub(model or "")
    return _read_file(ref.source, ref.sha256)


@functools.lru_cache(maxsize=4)
def _read_file(source: str, sha256: str | None) -> Weights:
    path = Path(source)
    if not path.is_file():
        raise TuneError(f"--pretrained {path}: no such file", HINT)
    if path.suffix.lower() == ".safetensors":
        return Weights(_read_safetensors(path), str(path))
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic not in (b"PK", b"\x80\x02") and not magic.startswith(b"\x80"):
        raise TuneError(f"--pretrained {path}: not a torch or .safetensors weights file", HINT)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickled model, a truncated file
        text = str(e).strip()
        why = ("it holds Python objects, not only tensors: a whole pickled model cannot be read "
               "without running its code" if "Weights only load failed" in text else
               (text.splitlines() or [type(e).__name__])[0][:160])
        raise TuneError(f"--pretrained {path}: not a readable weights file ({why})",
                        HINT) from None
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        try:
            made_by = Recipe.from_dict(data["recipe"]).task.flags()
        except (KeyError, TuneError):
            made_by = []
        return Weights(_tensors(data.get("state_dict"), path), str(path),
                       [str(c) for c in data.get("classes") or []] or None,
                       dict(data.get("hyperparameters") or {}), made_by)
    if isinstance(data, dict) and not _has_tensors(data):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(data.get(key), dict) and _has_tensors(data[key]):
                data = data[key]
                break
    return Weights(_tensors(data, path), str(path))


def _has_tensors(d: dict) -> bool:
    return any(isinstance(v, torch.Tensor) for v in d.values())


def _tensors(data: Any, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state_dict, with a ``module.`` prefix on every name dropped."""
    if not isinstance(data, dict) or not _has_tensors(data):
        raise TuneError(f"--pretrained {path}: holds no named tensors "
                        f"(a {type(data).__name__})", HINT)
    tensors = {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise TuneError(f"--pretrained {path}: reading .safetensors needs the safetensors package",
                        "pip install safetensors") from None
    try:
        return _tensors(load_file(str(path), device="cpu"), path)
    except TuneError:
        raise
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TuneError(f"--pretrained {path}: not a readable .safetensors file ({first[:160]})",
                        HINT) from None


@functools.lru_cache(maxsize=2)
def _hub(model: str) -> Weights:
    from models.timm_models import TIMM_PREFIX, hub_state_dict

    if not model.startswith(TIMM_PREFIX):
        raise TuneError("--pretrained hub needs --model timm:NAME",
                        "for your own model give a weights file: --pretrained model.pt")
    name = model.removeprefix(TIMM_PREFIX)
    return Weights(hub_state_dict(name), f"hub (timm {name})")
