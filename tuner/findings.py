"""Findings and verdicts: what a check saw, as data.

``Finding.code`` is a stable identifier (a public contract: users and tests
match on it); ``message`` says what was seen, with numbers; ``advice`` says
what to change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from tuner.outdir import out_dir, save_json

Severity = Literal["info", "warn", "fail"]
Verdict = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    advice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Finding":
        return Finding(d["code"], d["severity"], d["message"], d.get("advice", ""))


def worst(levels: Iterable[str]) -> Verdict:
    """THE "worst severity wins" rule for every verdict: ``fail`` if any level is
    fail, else ``warn`` if any is warn, else ``pass`` (info and pass are fine)."""
    seen = set(levels)
    return "fail" if "fail" in seen else "warn" if "warn" in seen else "pass"


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    """The verdict of a list of findings (see :func:`worst`)."""
    return worst(f.severity for f in findings)


@dataclass
class CheckResult:
    """The outcome of a sanity check: verdict, findings, numbers, files written."""

    check: str
    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "verdict": self.verdict,
                "findings": [f.to_dict() for f in self.findings],
                "metrics": self.metrics, "files": self.files}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "CheckResult":
        return CheckResult(d["check"], [Finding.from_dict(f) for f in d.get("findings", [])],
                           dict(d.get("metrics", {})), list(d.get("files", [])))

    def save(self, out: str | Path, stem: str,
             plot: Callable[[Path], Path] | None = None) -> list[str]:
        """Write ``<out>/<stem>.png`` (``plot(path)`` draws it, when given) and then
        ``<out>/<stem>.json``; ``files`` becomes exactly those, PNG first, and the
        JSON lists them too. Both are written atomically. Returns ``files``."""
        folder = out_dir(out)
        files = [] if plot is None else [str(plot(folder / f"{stem}.png"))]
        js = folder / f"{stem}.json"
        self.files = [*files, str(js)]
        save_json(js, self.to_dict())
        return self.files
