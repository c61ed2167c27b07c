"""The sections of the report body, each built from ``results`` in one language.

One function per section; each returns a :class:`~happiness_index.report.content.Section` or
None when the run has nothing to say there. The optional analyses (drivers, small areas,
robustness, distributions) are in :mod:`happiness_index.report.extra_sections`.
"""

from __future__ import annotations

from collections.abc import Mapping

from .annex import annex_section
from .catalog import MessageCatalog, catalog
from .extra_sections import extra_sections
from .model import Bullets, Chart, Paragraph, Section, Table
from .text import (
    Formatter,
    cap_first,
    commune_display_name,
    domain_labels,
    has_codes,
    is_missing,
    lower_first,
    source_in,
    vi_sort_key,
)

__all__ = ["build_sections", "commune_order", "publication_reason", "status_text", "trajectory_title"]


class _Ctx:
    """What every section builder needs: results, language, catalog, formatter, labels."""

    def __init__(self, results: Mapping, lang: str):
        self.r, self.lang = results, lang
        self.t: MessageCatalog = catalog(lang)
        self.f = Formatter(lang)
        self.level = self.f.pct(results["level"])
        self.domain, self.population = domain_labels(results, lang)

    def ci_head(self) -> str:
        return self.t("col.ci", level=self.level)


def commune_order(rows: list) -> list:
    """Highest estimate first; undefined estimates last; ties in Vietnamese order."""
    return sorted(
        rows,
        key=lambda r: (
            is_missing(r.get("estimate")),
            -(r.get("estimate") or 0.0),
            vi_sort_key(commune_display_name(r)),
        ),
    )


def publication_reason(row: Mapping, rule: Mapping, lang: str) -> str:
    """Why a commune estimate is not publishable, in ``lang`` with its number formats ("" when it is).

    The same conditions as the library's publication rule (``DomainIndexTable``): an
    undefined index, too few respondents, a relative standard error or an interval
    half-width (the larger distance from the estimate to a bound) above the limit, too few
    design degrees of freedom.
    """
    if row.get("publishable"):
        return ""
    t, f = catalog(lang), Formatter(lang)
    est, n, df, cv = row.get("estimate"), row.get("n"), row.get("df"), row.get("cv")
    out = []
    if is_missing(est):
        out.append(t("reason.undefined"))
    if rule.get("min_n") is not None and n is not None and n < rule["min_n"]:
        out.append(t("reason.min_n", n=f.int(n), min_n=f.int(rule["min_n"])))
    if rule.get("max_cv") is not None and not is_missing(cv) and cv > rule["max_cv"]:
        out.append(t("reason.max_cv", cv=f.num(100 * cv, 1), max_cv=f.num(100 * rule["max_cv"], 0)))
    if is_missing(df) or not df > 0:
        out.append(t("reason.no_df"))
    elif rule.get("min_df") is not None and df < rule["min_df"]:
        out.append(t("reason.min_df", df=f.num(df, 0 if float(df).is_integer() else 1), min_df=f.int(rule["min_df"])))
    if rule.get("max_ci_halfwidth") is not None and not is_missing(est):
        lo, hi = row.get("ci_low"), row.get("ci_high")
        if not is_missing(lo) and not is_missing(hi):
            hw = max(est - lo, hi - est)
            if hw > rule["max_ci_halfwidth"]:
                out.append(t("reason.halfwidth", hw=f.num(hw), max=f.num(rule["max_ci_halfwidth"], 0)))
        elif not is_missing(df) and df > 0:
            out.append(t("reason.ci_undefined"))
    if not out:  # a rule of the library this report does not know: its own words
        out.append(str(row.get("reason_" + lang) or row.get("reason") or ""))
    return "; ".join(out)


def status_text(status: str, lang: str) -> str:
    """The target status words of :meth:`Trajectory.assess` in ``lang``."""
    key = {
        "reached": "status.reached",
        "not reached": "status.not_reached",
        "not distinguishable": "status.not_distinguishable",
        "no estimate": "status.no_estimate",
    }.get(status)
    return catalog(lang)(key) if key else ""


def trajectory_title(results: Mapping, lang: str) -> str:
    """Title (and alt text) of the trajectory chart."""
    t = catalog(lang)
    level = Formatter(lang).pct(results["level"])
    tg = results.get("targets") or {}
    has = any(r.get("target") is not None for r in tg.get("years") or [])
    return t("chart.trajectory_targets" if has else "chart.trajectory", level=level)


# ----------------------------------------------------------------------------- summary
def _summary(c: _Ctx) -> Section:
    t, f, r = c.t, c.f, c.r
    idx = r["index"]
    blocks = [
        Paragraph(
            t(
                "summary.index",
                index=r["title"].get(c.lang) or r["title"]["en"],
                year=str(r.get("year") or ""),
                value=f.num(idx["estimate"]),
                level=c.level,
                low=f.num(idx.get("ci_low")),
                high=f.num(idx.get("ci_high")),
                n=f.int(idx.get("n")),
            )
        )
    ]
    band = idx.get("level_band")
    if band:
        blocks.append(Paragraph(t("summary.band", band=band.get(c.lang) or band.get("en"))))
    comps = "; ".join(
        t(
            "summary.component_item",
            label=_component_label(x, c.lang),
            value=f.num(x["estimate"]),
            level=c.level,
            ci=f.ci(x.get("ci_low"), x.get("ci_high")),
        )
        for x in r["components"]
    )
    blocks.append(Paragraph(t("summary.components", items=comps)))
    ch = r.get("change")
    if ch:
        blocks.append(Paragraph(_change_sentence(c, ch)))
    blocks += [Paragraph(s) for s in _target_sentences(c)]
    blocks.append(Chart("chart_trajectory", trajectory_title(r, c.lang)))
    return Section("summary", t("section.summary"), blocks)


def _change_sentence(c: _Ctx, ch: Mapping) -> str:
    t, f = c.t, c.f
    d = ch.get("change_pp")
    verb = t("word.fell") if (not is_missing(d) and d < 0) else t("word.rose")
    if not is_missing(d) and f.num(abs(d)) == f.num(0.0):
        verb = t("word.moved")  # "changed by 0.00", not "rose by 0.00"
    text = t(
        "summary.change",
        old_year=str(ch.get("old_label")),
        old=f.num(ch.get("old")),
        verb=verb,
        change=f.num(None if is_missing(d) else abs(d)),
        level=c.level,
        ci=f.ci(ch.get("ci_low"), ch.get("ci_high"), sign=True),
        p=f.p(ch.get("p_value")),
        rel=f.num(None if is_missing(ch.get("change_rel_pct")) else abs(ch["change_rel_pct"])),
    )
    p = ch.get("p_value")
    if is_missing(p):
        return text + " " + t("summary.change_no_se")
    alpha = 1 - float(c.r["level"])
    return (
        text + " " + t("summary.change_significant" if p < alpha else "summary.change_not_significant", level=c.level)
    )


def _target_sentences(c: _Ctx) -> list[str]:
    t, f = c.t, c.f
    tg = c.r.get("targets") or {}
    out = []
    for row in tg.get("years") or []:
        if row.get("target") is None or is_missing(row.get("estimate")):
            continue
        key = {"reached": "summary.target_reached", "not reached": "summary.target_not_reached"}.get(
            row.get("status"), "summary.target_undecided"
        )
        out.append(
            t(
                key,
                year=str(row["year"]),
                target=f.num(row["target"], 1),
                value=f.num(row["estimate"]),
                level=c.level,
                ci=f.ci(row.get("ci_low"), row.get("ci_high")),
            )
        )
    o = tg.get("outlook") or {}
    if (
        o.get("projection") is not None
        and o.get("last_target") is not None
        and o.get("projection_year") == o.get("last_target_year")
    ):
        out.append(
            t(
                "summary.projection",
                year=str(o["projection_year"]),
                value=f.num(o["projection"]),
                level=c.level,
                ci=f.ci(o.get("projection_ci_low"), o.get("projection_ci_high")),
                target=f.num(o["last_target"], 1),
                status=status_text(o.get("projection_status") or "", c.lang) or c.t("status.no_estimate"),
            )
        )
    return out


def _component_label(x: Mapping, lang: str) -> str:
    return x.get("label_" + lang) or x.get("label_en") or x.get("name") or ""


# ----------------------------------------------------------------------------- components
def _components(c: _Ctx) -> Section:
    t, f = c.t, c.f
    rows = [
        [_component_label(x, c.lang), f.num(x["estimate"]), f.num(x.get("se")), f.ci(x.get("ci_low"), x.get("ci_high"))]
        for x in c.r["components"]
    ]
    table = Table("components", [t("col.component"), t("col.estimate"), t("col.se"), c.ci_head()], rows, "lrrr")
    return Section(
        "components",
        t("section.components"),
        [Paragraph(t("components.intro")), table, Chart("chart_components", t("chart.components"))],
    )


# ----------------------------------------------------------------------------- communes
def _communes(c: _Ctx) -> Section | None:
    t, f, rows = c.t, c.f, c.r.get("communes") or []
    if not rows:
        return None
    codes = has_codes(rows)
    k_pub = sum(bool(x.get("publishable")) for x in rows)
    head = (
        [cap_first(c.domain)]
        + ([t("col.code")] if codes else [])
        + [
            t("col.estimate"),
            c.ci_head(),
            t("col.diff_population", population=c.population),
            t("col.n"),
            t("col.publishable"),
        ]
    )
    body = []
    for x in commune_order(rows):
        pub = (
            t("word.yes")
            if x.get("publishable")
            else t("word.no_because", reason=publication_reason(x, c.r.get("publication_rule") or {}, c.lang))
        )
        body.append(
            [commune_display_name(x)]
            + ([str(x.get("commune"))] if codes else [])
            + [
                f.num(x.get("estimate")),
                f.ci(x.get("ci_low"), x.get("ci_high")),
                f.sign(x.get("diff_city_pp")),
                f.int(x.get("n")),
                pub,
            ]
        )
    table = Table("communes", head, body, "l" + ("l" if codes else "") + "rrrrl")
    intro = (
        t("communes.intro_none", k=f.int(len(rows)), domains=lower_first(c.domain))
        if k_pub == 0
        else t(
            "communes.intro",
            k=f.int(len(rows)),
            domains=lower_first(c.domain),
            published=f.int(k_pub),
            not_published=f.int(len(rows) - k_pub),
            level=c.level,
        )
    )
    heading = t("section.domains", domain=lower_first(c.domain))
    return Section(
        "communes",
        heading,
        [Paragraph(intro), table, Chart("chart_communes", t("chart.communes", domain=lower_first(c.domain)))],
    )


# ----------------------------------------------------------------------------- change
def _change(c: _Ctx) -> Section:
    t, f = c.t, c.f
    ch = c.r.get("change")
    if not ch:
        return Section("change", t("section.change"), [Paragraph(t("change.none"))])
    blocks = [Paragraph(t("change.samples_joint" if ch.get("samples") == "joint" else "change.samples_independent"))]
    blocks.append(
        Table(
            "change_city",
            [t("col.year"), t("col.estimate"), t("col.se")],
            [
                [str(ch.get("old_label")), f.num(ch.get("old")), f.num(ch.get("old_se"))],
                [str(ch.get("new_label")), f.num(ch.get("new")), f.num(ch.get("new_se"))],
            ],
            "lrr",
        )
    )
    blocks.append(Paragraph(_change_sentence(c, ch)))
    bg = ch.get("by_group") or []
    if bg:
        blocks += _change_by_commune(c, ch, bg)
    if c.r.get("crosswalk"):
        blocks.append(Paragraph(t("change.crosswalk")))
        blocks += [
            Paragraph(
                t(
                    "change.crosswalk_incomplete",
                    unit=commune_display_name(x),
                    reason=str(x.get("reason_" + c.lang) or x.get("reason_en") or ""),
                )
            )
            for x in bg
            if x.get("complete") is False
        ]
    return Section("change", t("section.change"), blocks)


def _change_by_commune(c: _Ctx, ch: Mapping, bg: list) -> list:
    t, f = c.t, c.f
    codes = has_codes(bg)
    head = (
        [cap_first(c.domain)]
        + ([t("col.code")] if codes else [])
        + [
            str(ch.get("old_label")),
            str(ch.get("new_label")),
            t("col.change_pp"),
            c.ci_head(),
            t("col.change_rel"),
            t("col.p"),
            t("col.p_holm"),
            t("col.p_bh"),
        ]
    )
    rows = []
    for x in bg:
        rows.append(
            [commune_display_name(x)]
            + ([str(x.get("commune"))] if codes else [])
            + [
                f.num(x.get("old")),
                f.num(x.get("new")),
                f.sign(x.get("change_pp")),
                f.ci(x.get("ci_low"), x.get("ci_high"), sign=True),
                f.sign(x.get("change_rel_pct")) + "%",
                f.p(x.get("p_value")),
                f.p(x.get("p_holm")),
                f.p(x.get("p_bh")),
            ]
        )
    m = sum(not is_missing(x.get("p_value")) for x in bg)
    alpha = 1 - float(c.r["level"])
    k_raw = sum((x.get("p_value") or 1) < alpha for x in bg)
    k_holm = sum((x.get("p_holm") or 1) < alpha for x in bg)
    k_bh = sum((x.get("p_bh") or 1) < alpha for x in bg)
    risk = 1 - (1 - alpha) ** m if m else 0.0
    return [
        Paragraph(
            t(
                "change.multiple",
                m=f.int(m),
                domains=lower_first(c.domain),
                risk=f.num(100 * risk, 0),
                alpha=f.num(100 * alpha, 0),
            )
        ),
        Table("change_communes", head, rows, "l" + ("l" if codes else "") + "rrrrrrrr"),
        Paragraph(
            t(
                "change.multiple_result",
                raw=f.int(k_raw),
                holm=f.int(k_holm),
                bh=f.int(k_bh),
                m=f.int(m),
                alpha=f.num(100 * alpha, 0),
            )
        ),
    ]


# ----------------------------------------------------------------------------- targets
def _targets(c: _Ctx) -> Section:
    t, f = c.t, c.f
    tg = c.r.get("targets")
    if not tg:
        return Section("targets", t("section.targets"), [Paragraph(t("targets.none"))])
    rows = [
        [
            str(x["year"]),
            f.num(x.get("target"), 1),
            f.num(x.get("estimate")),
            f.ci(x.get("ci_low"), x.get("ci_high")),
            f.sign(x.get("gap_pp")),
            status_text(x.get("status") or "", c.lang) or "—",
            source_in(x.get("target_source"), c.lang) or "—",
        ]
        for x in tg["years"]
    ]
    table = Table(
        "targets",
        [
            t("col.year"),
            t("col.target"),
            t("col.estimate"),
            c.ci_head(),
            t("col.gap"),
            t("col.status"),
            t("col.source"),
        ],
        rows,
        "rrrrrll",
    )
    return Section(
        "targets",
        t("section.targets"),
        [Paragraph(t("targets.rule", level=c.level)), table, Bullets(_outlook(c, tg.get("outlook") or {}))],
    )


def _outlook(c: _Ctx, o: Mapping) -> list[str]:
    t, f = c.t, c.f
    out = []
    gain = o.get("gain_needed_pp_per_year")
    if gain is not None and gain > 0:
        out.append(
            t(
                "outlook.gain_needed",
                target=f.num(o["last_target"], 1),
                year=str(o["last_target_year"]),
                gain=f.num(gain),
                latest=str(o["latest_year"]),
                left=f.int(o["years_left"]),
            )
        )
    elif gain is not None:
        out.append(
            t(
                "outlook.already_above",
                target=f.num(o["last_target"], 1),
                year=str(o["last_target_year"]),
                latest=str(o["latest_year"]),
            )
        )
    if o.get("observed_gain_pp_per_year") is not None:
        out.append(t("outlook.observed", gain=f.sign(o["observed_gain_pp_per_year"]), since=str(o["observed_from"])))
    if o.get("projection") is not None:
        basis = str(o.get("projection_basis") or "")
        key = (
            "outlook.basis_estimates"
            if basis.startswith("straight line through the yearly")
            else "outlook.basis_published"
            if basis.startswith("straight line through published")
            else "outlook.basis_two"
            if basis.startswith("two values")
            else "outlook.basis_other"
        )
        ci = (
            f.ci(o.get("projection_ci_low"), o.get("projection_ci_high")) if o.get("projection_se") is not None else "—"
        )
        out.append(
            t("outlook.projection", year=str(o["projection_year"]), value=f.num(o["projection"]), level=c.level, ci=ci)
            + " "
            + t(key)
        )
    return out


# ----------------------------------------------------------------------------- formula caveat
def _caveat(c: _Ctx) -> Section | None:
    t, f = c.t, c.f
    sens = c.r.get("sensitivity") or {}
    rows = sens.get("table") or []
    names = {x["name"]: _component_label(x, c.lang) for x in c.r["components"]}
    if not rows or not all(x.get("input") in names for x in rows):
        return None
    falling = [x for x in rows if (x.get("partial_derivative") or 0) < 0]
    if not falling:
        return None
    blocks = [
        Paragraph(t("caveat.falls", component=lower_first(names[x["input"]]), points=f.num(-x["partial_derivative"])))
        for x in falling
    ]
    blocks.append(
        Table(
            "sensitivity",
            [t("col.component"), t("col.value"), t("col.partial"), t("col.elasticity")],
            [
                [
                    names[x["input"]],
                    f.num(x.get("value")),
                    f.sign(x.get("partial_derivative")),
                    f.sign(x.get("elasticity")),
                ]
                for x in rows
            ],
            "lrrr",
        )
    )
    blocks.append(Paragraph(t("caveat.advice")))
    return Section("caveat", t("section.caveat"), blocks)


# ----------------------------------------------------------------------------- method notes
def _method(c: _Ctx) -> Section:
    t, f, r = c.t, c.f, c.r
    items = [
        t("method.sample", n=f.int(r["index"].get("n")), level=c.level),
        t("method.design"),
        t("method.domains", domains=lower_first(c.domain)),
        t("method.change"),
        t("method.targets", level=c.level),
    ]
    rule = r.get("publication_rule") or {}
    if r.get("communes"):
        parts = []
        if rule.get("min_n") is not None:
            parts.append(t("rule.min_n", n=f.int(rule["min_n"])))
        if rule.get("max_cv") is not None:
            parts.append(t("rule.max_cv", cv=f.num(100 * rule["max_cv"], 0)))
        if rule.get("max_ci_halfwidth") is not None:
            w = float(rule["max_ci_halfwidth"])
            parts.append(t("rule.max_halfwidth", w=f.num(w, 0 if w.is_integer() else 1)))
        if rule.get("min_df") is not None:
            parts.append(t("rule.min_df", df=f.int(rule["min_df"])))
        items.append(
            t("method.publication", domains=lower_first(c.domain), conditions="; ".join(parts) or t("rule.defined"))
        )
    w = r.get("weighting")
    if w:
        items.append(t("method.calibrated" if w.get("converged") else "method.not_converged"))
    return Section("method", t("section.method"), [Bullets(items)])


def build_sections(results: Mapping, lang: str) -> list[Section]:
    """Every section of the report body and the annex, in order."""
    c = _Ctx(results, lang)
    secs = [_summary(c), _components(c), _communes(c), _change(c), _targets(c), _caveat(c)]
    secs += extra_sections(results, lang)
    secs += [_method(c), annex_section(results, lang)]
    secs = [s for s in secs if s is not None]
    number = 0
    for s in secs:
        if not s.annex:
            number += 1
            s.heading = f"{number}. {s.heading}"
    return secs
