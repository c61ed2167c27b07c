"""The technical annex: the internal names a reviewer needs and a leader does not.

The body of the report speaks plain words; the formula, the method's internal name, the
variance method, the interval's scale and degrees of freedom, the hashes of the spec and data,
the library version, the random seed and the replicates are listed here, once.
"""

from __future__ import annotations

from collections.abc import Mapping

from .catalog import catalog
from .model import Bullets, Section
from .text import Formatter

__all__ = ["annex_section"]

_CI_KEYS = {
    "log": "annex.ci_log",
    "logit": "annex.ci_logit",
    "wald": "annex.ci_wald",
    "identity": "annex.ci_wald",
    "beta": "annex.ci_other",
    "xlogit": "annex.ci_logit",
}


def annex_section(results: Mapping, lang: str) -> Section:
    """The annex (``Section.annex`` is True: not numbered, after the signature in Word)."""
    t, f = catalog(lang), Formatter(lang)
    prov = results.get("provenance") or {}
    spec = results.get("spec") or {}
    idx = results.get("index") or {}
    items = []
    if spec:
        items.append(
            t(
                "annex.formula",
                formula=spec.get("formula") or "",
                preset=spec.get("preset") or "",
                scale=t("annex.scale_percent") if spec.get("scale") == "percent" else t("annex.scale_proportion"),
            )
        )
    reps = prov.get("replicates")
    items.append(t("annex.variance_taylor") if not reps else t("annex.variance_replicates", n=f.int(reps)))
    ci_key = _CI_KEYS.get(str(idx.get("ci_method") or ""), "annex.ci_other")
    items.append(t(ci_key, method=str(idx.get("ci_method") or ""), df=f.num(idx.get("df"), 0)))
    items.append(
        t(
            "annex.spec",
            name=str(prov.get("spec_name")),
            version=str(prov.get("spec_version")),
            hash=str(prov.get("spec_hash")),
        )
    )
    items.append(t("annex.data_hash", hash=str(prov.get("data_hash")), n=f.int(prov.get("n_rows"))))
    items.append(t("annex.library", version=str(prov.get("library_version"))))
    seed = prov.get("seed")
    items.append(t("annex.seed_none") if seed is None else t("annex.seed", seed=str(seed)))
    rule = prov.get("lonely_psu")
    if rule:
        key = f"lonely_rule.{rule}"
        items.append(t("annex.lonely_psu", rule=t(key) if key in t else str(rule)))
    w = results.get("weighting")
    if w:
        method = str(w.get("method", "")).removeprefix("calibrate:")
        key = f"calibration_method.{method}"
        items.append(
            t(
                "annex.calibration",
                method=t(key) if key in t else method,
                converged=t("word.yes") if w.get("converged") else t("word.no"),
            )
        )
    v = results.get("validation") or {}
    if v:
        items.append(t("annex.validation", rows=f.int(v.get("n_rows")), coercions=f.int(v.get("coercions"))))
    roles = {
        "survey": "role.survey",
        "previous": "role.previous",
        "frame": "role.frame",
        "margins": "role.margins",
        "covariates": "role.covariates",
        "area_covariates": "role.covariates",  # the key the command line records
        "crosswalk": "role.crosswalk",
    }
    for k, inp in (prov.get("inputs") or {}).items():
        role = t(roles[k]) if k in roles else str(k)
        items.append(t("annex.input", role=role, file=str(inp.get("file")), hash=str(inp.get("sha256"))))
    return Section("annex", t("section.annex"), [Bullets(items)], annex=True)
