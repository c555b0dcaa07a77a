"""``tune check-loss`` (step 1): is the loss of the untrained model what it should be?

An untrained classifier predicts roughly uniformly, so its cross-entropy is
close to -log(1/C) = log C. The best *constant* prediction (the class priors)
scores the entropy H of the label distribution, which is below log C when the
classes are imbalanced. So a healthy loss at initialisation lies between
about H and log C (plus a little for non-uniform logits):

* far above log C: the logits start too large (initialisation or input scale);
* far below H: the model "knows" the labels before training, a label leak or
  a loss that is not what it claims;
* NaN/inf: traced to the inputs, the model's outputs, or the loss itself.

It also checks that the weight-decay term raises the regularised loss (it
does nothing when there are no trainable weights, or they are all zero).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tuner.checks.inputs import input_findings, input_stats
from tuner.checks.labels import LabelStats, label_stats
from tuner.errors import TuneError
from tuner.experiment import Experiment
from tuner.findings import CheckResult, Finding
from tuner.task import call_user

LOSS_BATCHES = 5
# loss / log C beyond which the start is "far above", with a minimum excess in nats.
HIGH_WARN, HIGH_FAIL = 2.5, 5.0
HIGH_WARN_NATS, HIGH_FAIL_NATS = 1.0, 3.0
# loss / H below which the untrained model beats the best constant guess suspiciously.
LOW_WARN, LOW_FAIL = 0.8, 0.5
WEIGHT_DECAY_PROBE = 1e-3


def check_loss(exp: Experiment, *, batches: int = LOSS_BATCHES,
               out: str | Path | None = None) -> CheckResult:
    """Loss of the untrained model on ``batches`` random training batches.

    Args:
        exp: The prepared experiment; a fresh model is built from it (seeded).
        batches: How many training batches (of ``batch_size``) to average over.
        out: Folder for ``check_loss.json``; ``None`` writes nothing.

    Returns:
        A :class:`CheckResult`; metrics hold ``loss`` (mean), ``loss_min``,
        ``loss_max``, ``log_num_classes``, ``label_entropy``, the class counts,
        ``logits_std``, ``loss_with_weight_decay`` and, for a NaN loss,
        ``nan_origin`` (``inputs``, ``outputs`` or ``loss``).
    """
    if batches < 1:
        raise TuneError(f"check-loss needs at least one batch, got {batches}")
    labels = label_stats(exp.train.labels(), exp.task.num_classes)
    findings = label_findings(labels)
    built = exp.build()
    model = built.model
    seen = forward_batches(exp, model, batches)
    metrics: dict[str, Any] = {**labels.to_dict(), **seen}
    losses = [v for v in seen["batch_losses"] if math.isfinite(v)]
    loss = sum(losses) / len(losses) if losses else float("nan")
    metrics.update(loss=loss, loss_min=min(losses, default=float("nan")),
                   loss_max=max(losses, default=float("nan")))

    stats = input_stats(exp.train, exp.seed)
    if seen["nan_origin"] is not None:
        findings.append(nan_finding(seen["nan_origin"], len(seen["batch_losses"]) - len(losses),
                                    len(seen["batch_losses"])))
    else:
        # NaN inputs outside the batches seen will still poison training.
        findings += [f for f in input_findings(stats, normalize_flag=True) if f.code == "inputs-nan"]
    if seen["outputs_are_probabilities"]:
        findings.append(softmax_finding(exp.task.loss_fn))
    if built.pretrained is not None and built.pretrained.head_loaded:
        # A warm start on the same classes: a low starting loss is what the weights learnt.
        findings.append(Finding(
            "pretrained-head", "info",
            f"the model starts from pretrained weights with their head ({built.pretrained.head}): "
            f"its starting loss {loss:.3g} measures those weights, not the initialisation",
            "nothing to do; the head is re-initialised when the classes differ"))
    elif losses and labels.present > 1:
        findings += level_findings(loss, labels, seen["logits_std"], inputs_normalised=stats.normalised)

    penalty_lambda = exp.params.weight_decay or WEIGHT_DECAY_PROBE
    penalty = 0.5 * penalty_lambda * sum(float(p.detach().float().pow(2).sum())
                                         for p in model.parameters() if p.requires_grad)
    metrics.update(weight_decay=penalty_lambda, weight_decay_penalty=penalty,
                   loss_with_weight_decay=loss + penalty)
    if not penalty > 0:
        findings.append(Finding(
            "weight-decay-no-effect", "warn",
            f"adding weight decay ({penalty_lambda:g}) does not raise the loss: the penalty "
            f"0.5·λ·Σw² is {penalty:g}",
            "there are no trainable weights, or they all start at zero (then every unit of a "
            "layer stays identical): initialise the weights randomly"))

    result = CheckResult("check-loss", findings, metrics)
    if out is not None:
        result.save(out, "check_loss")
    return result


@torch.no_grad()
def forward_batches(exp: Experiment, model: nn.Module, batches: int) -> dict[str, Any]:
    """Loss per batch (train mode, as the first step sees it) and where NaN starts."""
    model.train()
    generator = torch.Generator().manual_seed(exp.seed)
    losses: list[float] = []
    origin = None
    probabilities = True
    logit_sq, logit_n = 0.0, 0
    for i, (xb, yb) in enumerate(exp.train.batches(exp.params.batch_size, shuffle=True,
                                                   generator=generator, device=exp.device)):
        if i >= batches:
            break
        out = call_user(model, "the model's forward", xb).float()
        loss = float(call_user(exp.task.loss_fn, "loss_fn(outputs, targets)", out, yb))
        losses.append(loss)
        if not math.isfinite(loss) and origin is None:
            origin = ("inputs" if not bool(torch.isfinite(xb).all()) else
                      "outputs" if not bool(torch.isfinite(out).all()) else "loss")
        finite = out[torch.isfinite(out).all(dim=1)] if out.dim() == 2 else out[:0]
        if len(finite):
            logit_sq += float((finite - finite.mean()).pow(2).sum())
            logit_n += finite.numel()
        probabilities = probabilities and looks_like_probabilities(out)
    return {"batches": len(losses), "batch_losses": losses, "nan_origin": origin,
            "logits_std": math.sqrt(logit_sq / logit_n) if logit_n else float("nan"),
            "outputs_are_probabilities": probabilities and bool(losses)}


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """Rows in [0, 1] that sum to 1: a softmax output, not logits."""
    if out.dim() != 2 or out.shape[1] < 2 or not bool(torch.isfinite(out).all()):
        return False
    return bool((out >= 0).all() and (out <= 1).all() and ((out.sum(dim=1) - 1).abs() < 1e-3).all())


def label_findings(labels: LabelStats) -> list[Finding]:
    if labels.present <= 1:
        only = next(i for i, c in enumerate(labels.counts) if c > 0)
        return [Finding("single-class", "fail",
                        f"every one of the {labels.total} training labels is class {only}: "
                        "there is nothing to learn and the loss is meaningless",
                        "check the labels (a filter, a join or a split that kept one class)")]
    findings = []
    missing = [i for i, c in enumerate(labels.counts) if c == 0]
    if missing:
        findings.append(Finding(
            "missing-classes", "warn",
            f"{len(missing)} of {labels.num_classes} classes never occur in the training labels "
            f"(e.g. class {missing[0]})",
            "check the split and num_classes; the model cannot learn a class it never sees"))
    if labels.imbalanced:
        findings.append(Finding(
            "class-imbalance", "info",
            f"the classes are imbalanced ({labels.imbalance:.1f}× between the most and least "
            f"frequent; majority {labels.majority_share:.0%}): label entropy H = "
            f"{labels.entropy:.3f} vs log C = {math.log(labels.num_classes):.3f}",
            "judge the loss against H (the best constant guess), not log C, and accuracy against "
            f"{labels.majority_share:.0%}; consider class weights or balanced accuracy, and a last-layer "
            "bias set to the log class priors"))
    return findings


def nan_finding(origin: str, bad: int, total: int) -> Finding:
    where = {
        "inputs": ("the inputs contain NaN/inf", "clean the data (impute or drop missing values)"),
        "outputs": ("the inputs are finite but the model's outputs are NaN/inf",
                    "look for an overflow in forward (huge weights or inputs, exp, division by 0)"),
        "loss": ("inputs and outputs are finite but loss_fn returns NaN/inf",
                 "look for log(0) or a division by 0 in the loss; use F.cross_entropy on raw logits"),
    }[origin]
    return Finding("loss-nan", "fail", f"the loss is NaN/inf on {bad} of {total} batches: {where[0]}",
                   where[1])


def softmax_finding(loss_fn: Any) -> Finding:
    cross_entropy = loss_fn is F.cross_entropy or isinstance(loss_fn, nn.CrossEntropyLoss)
    return Finding(
        "softmax-before-loss", "fail" if cross_entropy else "warn",
        "the model outputs probabilities (rows in [0, 1] summing to 1), not logits"
        + (", and the loss is cross-entropy, which applies its own softmax" if cross_entropy else ""),
        "remove the final softmax: F.cross_entropy / nn.CrossEntropyLoss expect raw logits "
        "(take softmax only to report probabilities); with a softmax first, the loss floors far "
        "above zero and the gradients shrink")


def level_findings(loss: float, labels: LabelStats, logits_std: float, *,
                   inputs_normalised: bool) -> list[Finding]:
    """The loss far above log C, or far below the label entropy."""
    log_c, entropy = math.log(labels.num_classes), labels.entropy
    ratio, excess = loss / log_c, loss - log_c
    if ratio > HIGH_WARN and excess > HIGH_WARN_NATS:
        severity = "fail" if ratio > HIGH_FAIL and excess > HIGH_FAIL_NATS else "warn"
        cause = ("the input scale: the inputs are not normalised" if not inputs_normalised else
                 "the initialisation: the last layers' weights are too large")
        return [Finding(
            "loss-too-high", severity,
            f"the untrained model's loss is {loss:.3g}, {ratio:.1f}× the {log_c:.3g} = -log(1/{labels.num_classes}) "
            f"of a uniform guess: its logits start too large (std {logits_std:.3g})",
            f"the likely cause is {cause}; normalise the inputs per channel and initialise so the "
            "logits start small (e.g. scale the last layer's weights down by 10-100×, or zero them), "
            "so that the model starts near a uniform guess")]
    if loss < LOW_WARN * entropy and entropy - loss > 0.05:
        return [Finding(
            "loss-too-low", "fail" if loss < LOW_FAIL * entropy else "warn",
            f"the untrained model's loss {loss:.3g} is below the label entropy H = {entropy:.3g}, "
            "the best any constant guess can do: it knows the labels before training",
            "look for a label leak (the label or a proxy of it among the inputs) or a loss that is "
            "not cross-entropy on logits (a wrong reduction, an accuracy, an MSE)")]
    return []
