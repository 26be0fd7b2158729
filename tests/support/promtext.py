"""Parse, filter, sort and re-render exposition text (for goldens and lint)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from agent.exporter.catalog import VOLATILE


def normalise(text: str, volatile: tuple[str, ...] = VOLATILE, drop_labels: dict | None = None) -> str:
    """Drop samples of volatile families (keep HELP/TYPE), sort families and samples."""
    out = []
    for fam in sorted(text_string_to_metric_families(text), key=lambda f: f.name):
        name = fam.name + ("_total" if fam.type == "counter" else "")
        out.append(f"# HELP {name} {fam.documentation}")
        out.append(f"# TYPE {name} {fam.type}")
        if any(name.endswith(v) for v in volatile):
            continue
        lines = []
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = dict(s.labels)
            for k, v in (drop_labels or {}).items():
                if k in labels and s.name in v:
                    labels[k] = "X"
            lab = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
            v = repr(float(s.value))
            lines.append(f"{s.name}{{{lab}}} {v}" if lab else f"{s.name} {v}")
        out.extend(sorted(lines))
    return "\n".join(out) + "\n"


def families(text: str) -> dict[str, str]:
    """exposed family name -> type"""
    out = {}
    for fam in text_string_to_metric_families(text):
        name = fam.name + ("_total" if fam.type == "counter" else "")
        out[name] = fam.type
    return out
