"""Optional report sections: drivers, small-area estimates, robustness, item distributions.

Each is rendered when ``results`` carries its key (written by :func:`run_annual` from the
producers' frames, see ``/SECTIONS.md``):

* ``results["drivers"]``: ``{"outcome_en", "outcome_vi", "table": records}`` with the columns
  of ``DriversResult.to_frame()`` (group, term, label_en, label_vi, ame_pp, se_pp, ci_low_pp,
  ci_high_pp, p, n);
* ``results["small_area"]``: ``{"table": records}`` of ``SmallAreaIndexTable.to_frame()``
  (unit, name, direct, direct_ci_low, direct_ci_high, model, model_ci_low, model_ci_high, mse,
  gamma, published, reason_en, reason_vi, rank, rank_low, rank_high);
* ``results["robustness"]``: ``{"city", "communes", "targets", "sobol"}`` records of
  ``RobustnessResult``;
* ``results["distributions"]``: ``{"table", "summary"}`` records of ``DistributionTable``.

A rank is never shown alone: always with its interval ("3rd, between 1st and 7th").
"""

from __future__ import annotations

from collections.abc import Mapping

from .catalog import catalog
from .model import Paragraph, Section, Table
from .text import Formatter, is_missing

__all__ = ["extra_sections", "ordinal", "rank_text"]


def ordinal(k, lang: str) -> str:
    """``3`` -> "3rd" (English) or "thứ 3" (Vietnamese)."""
    k = int(k)
    if lang == "vi":
        return catalog("vi")("rank.ordinal", k=str(k))
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def rank_text(rank, low, high, lang: str) -> str:
    """A rank with its interval: "3rd, between 1st and 7th" / "thứ 3, trong khoảng từ thứ 1 đến thứ 7"."""
    if is_missing(rank):
        return "—"
    if is_missing(low) or is_missing(high):
        return catalog(lang)("rank.no_interval", rank=ordinal(rank, lang))
    return catalog(lang)(
        "rank.with_interval", rank=ordinal(rank, lang), low=ordinal(low, lang), high=ordinal(high, lang)
    )


def _label(row: Mapping, lang: str) -> str:
    return str(row.get("label_" + lang) or row.get("label_en") or row.get("term") or row.get("factor") or "")


def _group(g, lang: str) -> str:
    return catalog(lang)("label.city_group") if str(g) == "city" else str(g)


def _drivers(res: Mapping, lang: str) -> Section | None:
    d = res.get("drivers")
    t, f = catalog(lang), Formatter(lang)
    if not d or not d.get("table"):
        why = (res.get("provenance") or {}).get("drivers_skipped")
        if not why:
            return None  # not asked for
        reason = str(why).rstrip(". ")
        return Section("drivers", t("section.drivers"), [Paragraph(t("drivers.skipped", reason=reason))])
    level = f.pct(res.get("level", 0.95))
    outcome = d.get("outcome_" + lang) or d.get("outcome_en") or ""
    rows = [
        [
            _group(x.get("group"), lang),
            _label(x, lang),
            f.sign(x.get("ame_pp")),
            f.ci(x.get("ci_low_pp"), x.get("ci_high_pp"), sign=True),
            f.p(x.get("p")),
            f.int(x.get("n")),
        ]
        for x in d["table"]
    ]
    table = Table(
        "drivers",
        [t("col.group"), t("col.factor"), t("col.ame_pp"), t("col.ci", level=level), t("col.p"), t("col.n")],
        rows,
        "llrrrr",
    )
    return Section(
        "drivers",
        t("section.drivers"),
        [Paragraph(t("drivers.intro", outcome=outcome)), table, Paragraph(t("drivers.caution"))],
    )


def _small_area(res: Mapping, lang: str) -> Section | None:
    sa = res.get("small_area")
    if not sa or not sa.get("table"):
        return None
    t, f = catalog(lang), Formatter(lang)
    level = f.pct(res.get("level", 0.95))
    pub_words = {
        "direct": t("small_area.published_direct"),
        "model": t("small_area.published_model"),
        "none": t("small_area.published_none"),
    }
    # a code column only when the units have codes apart from their names (else it repeats the name)
    coded = any(x.get("name") and str(x.get("name")) != str(x.get("unit")) for x in sa["table"])
    rows = []
    for x in sorted(sa["table"], key=lambda r: (is_missing(r.get("rank")), r.get("rank") or 0)):
        rows.append(
            [
                str(x.get("name") or x.get("unit")),
                *([str(x.get("unit"))] if coded else []),
                f.num(x.get("direct")),
                f.ci(x.get("direct_ci_low"), x.get("direct_ci_high")),
                f.num(x.get("model")),
                f.ci(x.get("model_ci_low"), x.get("model_ci_high")),
                pub_words.get(str(x.get("published")), str(x.get("published"))),
                str(x.get("reason_" + lang) or ""),
                rank_text(x.get("rank"), x.get("rank_low"), x.get("rank_high"), lang),
            ]
        )
    head = [
        t("col.name"),
        *([t("col.code")] if coded else []),
        t("col.direct"),
        t("col.ci", level=level),
        t("col.model"),
        t("col.ci", level=level),
        t("col.published_as"),
        t("col.reason"),
        t("col.rank"),
    ]
    return Section(
        "small_area",
        t("section.small_area"),
        [
            Paragraph(t("small_area.intro")),
            Table("small_area", head, rows, ("ll" if coded else "l") + "rrrrlll"),
            Paragraph(t("small_area.ranks")),
        ],
    )


def _scenario(s, lang: str) -> str:
    key = {
        "sampling": "robust.scenario_sampling",
        "methods": "robust.scenario_methods",
        "both": "robust.scenario_both",
    }.get(str(s))
    return catalog(lang)(key) if key else str(s)


def _robustness(res: Mapping, lang: str) -> Section | None:
    rb = res.get("robustness")
    if not rb or not (rb.get("city") or rb.get("communes") or rb.get("targets") or rb.get("sobol")):
        return None
    t, f = catalog(lang), Formatter(lang)
    blocks = [Paragraph(t("robust.intro"))]
    if rb.get("city"):
        blocks.append(
            Table(
                "robustness_city",
                [t("col.scenario"), t("col.median"), t("col.range_90")],
                [
                    [_scenario(x.get("scenario"), lang), f.num(x.get("median")), f.ci(x.get("p05"), x.get("p95"))]
                    for x in rb["city"]
                ],
                "lrr",
            )
        )
    if rb.get("targets"):
        blocks.append(Paragraph(t("robust.targets_caveat")))
        blocks.append(
            Table(
                "robustness_targets",
                [t("col.year"), t("col.target"), t("col.scenario"), t("col.share_reached")],
                [
                    [
                        str(x.get("year")),
                        f.num(x.get("target"), 1),
                        _scenario(x.get("scenario"), lang),
                        f.num(100 * x["share_reached"], 0) + "%" if not is_missing(x.get("share_reached")) else "—",
                    ]
                    for x in rb["targets"]
                ],
                "rrlr",
            )
        )
    if rb.get("communes"):
        names = {str(c.get("commune")): str(c.get("name") or c.get("commune")) for c in res.get("communes") or []}
        blocks.append(
            Table(
                "robustness_communes",
                [t("col.name"), t("col.scenario"), t("col.median"), t("col.range_90"), t("col.rank")],
                [
                    [
                        names.get(str(x.get("unit")), str(x.get("unit"))),
                        _scenario(x.get("scenario"), lang),
                        f.num(x.get("median")),
                        f.ci(x.get("p05"), x.get("p95")),
                        rank_text(x.get("median_rank"), x.get("rank_p05"), x.get("rank_p95"), lang),
                    ]
                    for x in rb["communes"]
                ],
                "llrrl",
            )
        )
    if rb.get("sobol"):
        blocks.append(Paragraph(t("robust.sobol")))
        blocks.append(
            Table(
                "robustness_sobol",
                [t("col.output"), t("col.factor"), t("col.s1"), t("col.st")],
                [[str(x.get("output")), _label(x, lang), f.num(x.get("S1")), f.num(x.get("ST"))] for x in rb["sobol"]],
                "llrr",
            )
        )
    return Section("robustness", t("section.robustness"), blocks)


def _distributions(res: Mapping, lang: str) -> Section | None:
    ds = res.get("distributions")
    if not ds or not (ds.get("table") or ds.get("summary")):
        return None
    t, f = catalog(lang), Formatter(lang)
    level = f.pct(res.get("level", 0.95))
    blocks = [Paragraph(t("distributions.intro"))]
    if ds.get("table"):
        blocks.append(
            Table(
                "distributions",
                [t("col.group"), t("col.item"), t("col.category"), t("col.share"), t("col.ci", level=level)],
                [
                    [
                        _group(x.get("group"), lang),
                        _label(x, lang),
                        str(x.get("category")),
                        f.num(100 * x["share"], 1) + "%" if not is_missing(x.get("share")) else "—",
                        f.ci(
                            None if is_missing(x.get("ci_low")) else 100 * x["ci_low"],
                            None if is_missing(x.get("ci_high")) else 100 * x["ci_high"],
                            1,
                        ),
                    ]
                    for x in ds["table"]
                ],
                "lllrr",
            )
        )
    if ds.get("summary"):
        labels = {str(x.get("item")): _label(x, lang) for x in ds.get("table") or []}
        blocks.append(
            Table(
                "distributions_summary",
                [t("col.group"), t("col.item"), t("col.mean"), t("col.median"), t("col.p90_p10")],
                [
                    [
                        _group(x.get("group"), lang),
                        labels.get(str(x.get("item")), str(x.get("item"))),
                        f.num(x.get("mean")),
                        f.num(x.get("median")),
                        f.num(x.get("p90_p10")),
                    ]
                    for x in ds["summary"]
                ],
                "llrrr",
            )
        )
    return Section("distributions", t("section.distributions"), blocks)


def extra_sections(results: Mapping, lang: str) -> list[Section]:
    """The optional sections present in ``results``, in report order."""
    out = [
        _drivers(results, lang),
        _small_area(results, lang),
        _robustness(results, lang),
        _distributions(results, lang),
    ]
    return [s for s in out if s is not None]
