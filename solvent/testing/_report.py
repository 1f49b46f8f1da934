"""What the conformance kit reports: one result per check and shape, gathered in a Report."""

from __future__ import annotations

import dataclasses

__all__ = ["CheckResult", "Report"]


@dataclasses.dataclass
class CheckResult:
    """One check on one shape."""

    name: str
    shape: tuple
    passed: bool
    detail: str = ""


@dataclasses.dataclass
class Report:
    """What :func:`check_manifold` found; falsy when any check failed."""

    manifold: str
    results: list[CheckResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def __bool__(self) -> bool:
        return self.ok

    def format(self) -> str:
        lines = [f"conformance of {self.manifold!r}:"]
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            lines.append(f"  {mark}  {r.name:<22} shape={r.shape}  {r.detail}".rstrip())
        n_fail = len(self.failures)
        lines.append(f"{len(self.results) - n_fail} passed, {n_fail} failed")
        return "\n".join(lines)
