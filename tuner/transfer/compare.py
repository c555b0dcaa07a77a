"""``tune transfer``: train the four strategies side by side and decide.

With the same short budget (``epochs``, default 5), the same seed and the
same data, it trains:

* ``scratch``: the model from its own initialisation (no pretrained weights);
* ``probe``: the pretrained model with only its head training (``freeze=backbone``);
* ``probe-then-fine-tune``: the head alone for a third of the budget, then
  everything, the pretrained layers at a tenth of the LR
  (``probe_epochs``, ``backbone_lr=0.1``);
* ``fine-tune``: everything from the start, the pretrained layers at a tenth
  of the LR (``freeze=none``, ``backbone_lr=0.1``);

and reports each one's best validation accuracy and curves, the training
samples per class, the similarity measure and the verdict
(:mod:`tuner.transfer.verdict`) with the ``--hp`` flags to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tuner.checks.labels import label_stats
from tuner.engine import EpochRecord, History
from tuner.errors import TuneError
from tuner.experiment import Experiment
from tuner.outdir import out_dir, save_json
from tuner.transfer.plot import plot_strategies
from tuner.transfer.verdict import (DEFAULT_EPOCHS, FINE_TUNE, PROBE, PROBE_THEN_FINE_TUNE, SCRATCH,
                                    STRATEGIES, Similarity, advice, decide, similarity)

BACKBONE_LR = 0.1  # the pretrained layers' LR multiplier when they fine-tune
TRANSFER_NAMES = ("freeze", "backbone_lr", "probe_epochs")
RESULT_FILE, PLOT_FILE = "transfer.json", "transfer.png"

# (strategy, epoch record) after each epoch, for progress display.
OnEpoch = Callable[[str, EpochRecord], None]


def strategy_hp(name: str, epochs: int) -> dict[str, Any]:
    """The ``--hp`` values of a strategy (scratch also drops ``--pretrained``)."""
    if name == PROBE:
        return {"freeze": "backbone", "backbone_lr": 1.0, "probe_epochs": 0}
    if name == PROBE_THEN_FINE_TUNE:
        return {"freeze": "none", "backbone_lr": BACKBONE_LR, "probe_epochs": max(1, round(epochs / 3))}
    if name == FINE_TUNE:
        return {"freeze": "none", "backbone_lr": BACKBONE_LR, "probe_epochs": 0}
    return {"freeze": "none", "backbone_lr": 1.0, "probe_epochs": 0}


@dataclass
class StrategyRun:
    """One strategy's training: its ``--hp`` values and its curves."""

    name: str
    hp: dict[str, Any]
    history: History

    @property
    def best_val_acc(self) -> float:
        return self.history.best_val_acc

    @property
    def flags_hp(self) -> dict[str, Any]:
        """The ``--hp`` values to give for this strategy: ``freeze`` and what differs from
        the defaults; none for scratch (which means: no ``--pretrained``)."""
        if self.name == SCRATCH:
            return {}
        defaults = strategy_hp(SCRATCH, 1)
        return {k: v for k, v in self.hp.items() if k == "freeze" or v != defaults[k]}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hp": dict(self.hp), "best_val_acc": self.best_val_acc,
                "epochs": self.history.to_dict()["epochs"]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "StrategyRun":
        return StrategyRun(str(d["name"]), dict(d["hp"]), History.from_dict({"epochs": d["epochs"]}))


@dataclass
class TransferResult:
    """``tune transfer``'s measurements and verdict.

    ``verdict`` names one of ``strategies``; :attr:`hp` is its ``--hp`` values
    (empty for ``scratch``, which trains without ``--pretrained``).
    """

    strategies: list[StrategyRun]
    samples_per_class: float
    similarity: Similarity
    verdict: str
    advice: str
    files: list[str] = field(default_factory=list)

    @property
    def hp(self) -> dict[str, Any]:
        """The verdict's ``--hp`` values (those that differ from the defaults, and ``freeze``)."""
        return next(r.flags_hp for r in self.strategies if r.name == self.verdict)

    def best_val_acc(self) -> dict[str, float]:
        return {r.name: r.best_val_acc for r in self.strategies}

    def to_dict(self) -> dict[str, Any]:
        return {"strategies": [r.to_dict() for r in self.strategies],
                "samples_per_class": self.samples_per_class, "similarity": self.similarity.to_dict(),
                "verdict": self.verdict, "advice": self.advice, "files": list(self.files)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "TransferResult":
        return TransferResult([StrategyRun.from_dict(r) for r in d["strategies"]],
                              float(d["samples_per_class"]), Similarity.from_dict(d["similarity"]),
                              str(d["verdict"]), str(d["advice"]), list(d.get("files", [])))


def hp_flags(hp: dict[str, Any]) -> str:
    """``--hp freeze=backbone ...``, or what scratch means."""
    if not hp:
        return "no --pretrained"
    return " ".join(f"--hp {k}={v:g}" if isinstance(v, float) else f"--hp {k}={v}" for k, v in hp.items())


def check_transfer(exp: Experiment, epochs: int) -> None:
    """Refuse what cannot be compared, before anything trains or is written."""
    if exp.recipe.pretrained is None:
        raise TuneError("tune transfer needs pretrained weights to compare with training from scratch",
                        "add --pretrained FILE (a model.pt or a state_dict), or --pretrained hub "
                        "with --model timm:NAME")
    fixed = [k for k in TRANSFER_NAMES if k in exp.fixed]
    if fixed:
        raise TuneError(f"--hp {fixed[0]}: tune transfer sets freeze, backbone_lr and probe_epochs "
                        f"itself (they make its four strategies)",
                        f"drop --hp {fixed[0]}=...; tune train uses it")
    if epochs < 1:
        raise TuneError(f"--epochs {epochs}: must be at least 1", f"for example --epochs {DEFAULT_EPOCHS}")
    exp.require_trainable()


def compare_strategies(exp: Experiment, out: str | Path | None = None, *, epochs: int = DEFAULT_EPOCHS,
                       on_epoch: OnEpoch | None = None) -> TransferResult:
    """Train the four strategies on ``exp`` for ``epochs`` each and decide; with ``out``,
    write ``transfer.json`` and ``transfer.png`` there.

    Raises:
        TuneError: no pretrained weights, or ``freeze``/``backbone_lr``/``probe_epochs``
            fixed with ``--hp``.
    """
    check_transfer(exp, epochs)
    runs = []
    for name in STRATEGIES:
        hp = strategy_hp(name, epochs)
        base = exp.without_weights() if name == SCRATCH else exp
        run_exp = base.with_hp({**hp, "epochs": epochs})
        report = (lambda rec, name=name: on_epoch(name, rec)) if on_epoch is not None else None
        history = run_exp.fit(run_exp.build(), epochs=epochs, on_epoch=report)
        runs.append(StrategyRun(name, hp, history))

    chance = majority_share(exp)
    acc = {r.name: r.best_val_acc for r in runs}
    sim = similarity(acc[PROBE], acc[SCRATCH], chance)
    per_class = len(exp.train) / exp.task.num_classes
    verdict = decide(acc, chance)
    result = TransferResult(runs, per_class, sim, verdict, "")
    result.advice = advice(verdict, acc, sim, per_class, hp_flags(result.hp))
    if out is not None:
        folder = out_dir(out)
        plot = plot_strategies([(r.name, r.history) for r in runs], folder / PLOT_FILE,
                               title=f"{exp.recipe.task.label()}: transfer, {epochs} epochs each",
                               chance=chance)
        result.files = [str(folder / RESULT_FILE), str(plot)]
        save_json(folder / RESULT_FILE, result.to_dict())
    return result


def majority_share(exp: Experiment) -> float:
    """Chance accuracy: the share of the most frequent class in the validation data."""
    labels = exp.val.labels()
    return label_stats(labels, exp.task.num_classes).majority_share if len(labels) else float("nan")
