"""``tune check-init``: is the network initialised so that signal flows?

One forward and backward pass on a random training batch at initialisation
(see :mod:`tuner.checks.layer_probe`), then findings about:

* the inputs (NaN/inf, constant, not normalised), see :mod:`tuner.checks.inputs`;
* activations whose scale collapses (vanishes) or grows (explodes) with depth,
  measured at the outputs of the weight layers (Linear, Conv, ...), whose
  scale is what the initialisation sets;
* dead ReLU units (zero for every sample of the batch);
* parameters that receive no gradient (a detached branch, an unused module),
  frozen parameters, and a model with nothing trainable.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tuner.checks.inputs import input_findings, input_stats
from tuner.checks.layer_probe import DEAD_FAIL, DEAD_WARN, LayerStats, Probe, probe
from tuner.checks.sampling import sample_batch
from tuner.engine import NOTHING_TO_TRAIN_HINT
from tuner.experiment import Experiment
from tuner.findings import CheckResult, Finding

# The batch: the training batch size, but enough samples for stable
# statistics and dead-unit counts, and not more than a probe needs.
MIN_BATCH, MAX_BATCH = 64, 256
# std(last weight layer) / std(first): beyond 10x a warning, beyond 100x a failure.
DRIFT_WARN, DRIFT_FAIL = 10.0, 100.0
KAIMING = ("initialise ReLU layers with Kaiming normal, std = sqrt(2/fan_in) "
           "(nn.init.kaiming_normal_(w, nonlinearity='relu')): ReLU zeroes half of its inputs, "
           "so keeping the variance constant from layer to layer needs the factor 2. "
           "For tanh/sigmoid use Xavier (std = sqrt(2/(fan_in+fan_out))); "
           "normalisation layers (BatchNorm, LayerNorm) also hold the scale steady")


def check_init(exp: Experiment, out: str | Path | None = None) -> CheckResult:
    """Check weight initialisation and the inputs at step 0.

    Args:
        exp: The prepared experiment; a fresh model is built from it (seeded).
        out: Folder for ``check_init.png`` (per-layer histograms, std by depth)
            and ``check_init.json``; ``None`` writes nothing.

    Returns:
        A :class:`CheckResult` whose metrics hold the input statistics, one
        row per layer call (``layers``), the weight-layer std by depth, the
        total ``std_drift`` and the geometric mean ``std_factor`` per layer.
    """
    stats = input_stats(exp.train, exp.seed)
    findings = input_findings(stats, normalize_flag=bool(exp.params.normalize))
    model = exp.build().model
    n = min(len(exp.train), max(MIN_BATCH, min(MAX_BATCH, exp.params.batch_size)))
    x, y = sample_batch(exp.train, n, exp.seed, exp.device)
    pr = probe(model, x, y, exp.task.loss_fn)
    findings += gradient_findings(pr)
    drift, factor = std_drift(pr)
    findings += scale_findings(pr, bool(torch.isfinite(x).all()), drift, factor)
    findings += dead_findings(pr)

    weight_std = [rec.std for rec in pr.layers if rec.role == "weight"]
    metrics = {
        "batch": n, "loss": pr.loss, "logits_std": pr.logits_std,
        "parameters": sum(math.prod(p.shape) for p in pr.params),
        "trainable_parameters": sum(math.prod(p.shape) for p in pr.params if p.trainable),
        "inputs": stats.summary(), "weight_layer_std": weight_std,
        "std_drift": drift, "std_factor": factor,
        "layers": [rec.to_dict() for rec in pr.layers],
        "params": [p.to_dict() for p in pr.params],
    }
    result = CheckResult("check-init", findings, metrics)
    if out is not None:
        from tuner.checks.init_plot import plot_init

        title = f"check-init: {exp.recipe.task.label()}"
        result.save(out, "check_init", plot=lambda png: plot_init(pr.layers, png, title=title))
    return result


def gradient_findings(pr: Probe) -> list[Finding]:
    """Nothing trainable, frozen parameters, parameters no gradient reached."""
    if not any(p.trainable for p in pr.params):
        return [nothing_trainable("has every parameter frozen (requires_grad=False)" if pr.params
                                  else "has no parameters")]
    findings = []
    frozen = [p.name for p in pr.params if not p.trainable]
    if frozen:
        findings.append(Finding(
            "frozen-parameters", "warn",
            f"{len(frozen)} of {len(pr.params)} parameter tensors are frozen (requires_grad=False): "
            f"{names(frozen)}",
            "fine if you froze them on purpose (e.g. a pretrained backbone); otherwise remove the "
            "requires_grad_(False) / torch.no_grad() that froze them"))
    missing = [p.name for p in pr.params if p.trainable and p.grad_norm is None]
    if missing:
        findings.append(Finding(
            "no-gradient", "fail",
            f"{len(missing)} trainable parameter tensors receive no gradient: {names(missing)}",
            "their output never reaches the loss: look for .detach(), .data, .item()/.numpy() round "
            "trips or torch.no_grad() in forward, or a module that forward does not use"))
    zero = [p.name for p in pr.params if p.trainable and p.grad_norm == 0.0]
    if zero:
        findings.append(Finding(
            "zero-gradient", "warn",
            f"{len(zero)} parameter tensors get an all-zero gradient: {names(zero)}",
            "the signal is cut on the way (dead ReLUs, a constant input, a zero multiplier); "
            "see the other findings"))
    return findings


def nothing_trainable(why: str) -> Finding:
    """``no-trainable-parameters``: ``why`` is :func:`tuner.engine.untrainable`'s reason."""
    return Finding("no-trainable-parameters", "fail", f"the model {why}: nothing can learn",
                   NOTHING_TO_TRAIN_HINT)


def std_drift(pr: Probe) -> tuple[float | None, float | None]:
    """std(last weight layer) / std(first), and the mean factor per layer."""
    stds = [r.std for r in pr.layers if r.role == "weight" and r.finite and r.std > 0]
    if len(stds) < 3:
        return None, None  # too shallow for a trend with depth
    drift = stds[-1] / stds[0]
    return drift, drift ** (1 / (len(stds) - 1))


def scale_findings(pr: Probe, inputs_finite: bool, drift: float | None,
                   factor: float | None) -> list[Finding]:
    """NaN/inf activations from finite inputs; vanishing or exploding activations
    (``drift`` and ``factor`` as :func:`std_drift` gives them)."""
    if inputs_finite:
        broken = next((r for r in pr.layers if not r.finite), None)
        if broken is not None:
            return [Finding("activations-nan", "fail",
                            f"the output of layer {broken.depth} ({broken.name}, {broken.kind}) is "
                            "NaN/inf at initialisation although the inputs are finite",
                            "look for an overflow (huge weights, exp of large values) or a division "
                            "by zero in forward")]
    if drift is None or factor is None or 1 / DRIFT_WARN <= drift <= DRIFT_WARN:
        return []
    weights = [r for r in pr.layers if r.role == "weight" and r.finite]
    path = " → ".join(f"{r.std:.2g}" for r in weights)
    vanish = drift < 1
    severity = "fail" if drift < 1 / DRIFT_FAIL or drift > DRIFT_FAIL else "warn"
    code = "activations-vanish" if vanish else "activations-explode"
    word = "shrinks" if vanish else "grows"
    message = (f"activation std {word} with depth by ×{factor:.2f} per layer, {drift:.3g}× "
               f"over {len(weights)} weight layers (std by depth: {path})")
    worst = worst_init(weights)
    if worst is not None:
        message += (f"; e.g. {worst.name} ({worst.kind}) has weight std {worst.weight_std:.3g} where "
                    f"Kaiming gives sqrt(2/{worst.fan_in}) = {math.sqrt(2 / worst.fan_in):.3g}")
    cause = ("gradients vanish with them and the early layers barely learn" if vanish else
             "the logits and the loss start huge and training is unstable")
    return [Finding(code, severity, message, f"{cause}; {KAIMING}")]


def worst_init(weights: list[LayerStats]) -> LayerStats | None:
    """The weight layer furthest (in log ratio) from the Kaiming std."""
    scored = [(abs(math.log(r.weight_std / math.sqrt(2 / r.fan_in))), r)
              for r in weights if r.weight_std and r.fan_in]
    return max(scored, key=lambda t: t[0])[1] if scored else None


def dead_findings(pr: Probe) -> list[Finding]:
    """ReLU layers where many units output zero for every sample of the batch."""
    relus = [r for r in pr.layers if r.dead is not None]
    if not relus:
        return []
    worst = max(relus, key=lambda r: r.dead)
    if worst.dead < DEAD_WARN:
        return []
    bad = [r for r in relus if r.dead >= DEAD_WARN]
    return [Finding(
        "dead-relu", "fail" if worst.dead >= DEAD_FAIL else "warn",
        f"{worst.dead:.0%} of the units of {worst.name} ({worst.kind}, layer {worst.depth}) output "
        f"zero for every sample of the batch ({len(bad)} of {len(relus)} ReLU layers have "
        f"≥ {DEAD_WARN:.0%} dead units)",
        "a dead unit gets no gradient and never recovers: start biases at 0 (not negative), "
        "use Kaiming weights and normalised inputs, or switch to LeakyReLU/GELU")]


def names(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
