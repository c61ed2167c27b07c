suppressMessages(library(survey)); library(jsonlite)
# run from the repository root: the shared data files are in the repository as tests/data/<file>,
# or (data sets the package bundles) happiness_index/data/<file>.gz, which read.csv reads as well
D <- function(f) if (file.exists(file.path("tests/data", f))) file.path("tests/data", f) else file.path("happiness_index/data", paste0(f, ".gz"))
apiclus1 <- read.csv(D("apiclus1.csv")); apistrat <- read.csv(D("apistrat.csv")); apiclus2 <- read.csv(D("apiclus2.csv"))
nhanes <- read.csv(D("nhanes.csv")); scd <- read.csv(D("scd.csv"))
dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
dclus2 <- svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)
nh <- svydesign(id=~SDMVPSU, strata=~SDMVSTRA, weights=~WTMEC2YR, nest=TRUE, data=nhanes)
scdnofpc <- svydesign(data=scd, prob=~1, id=~ambulance, strata=~ESA, nest=TRUE)
jk <- read.csv(D("repweights/apiclus1_jk1.csv"))
rclus1 <- svrepdesign(data=apiclus1, repweights=as.matrix(jk[,-1]), weights=~pw, type='JK1', scale=0.914839277851167, rscales=1, combined.weights=TRUE)
jn <- read.csv(D("repweights/apistrat_jkn.csv"))
rstrat0 <- as.svrepdesign(dstrat, type='JKn')
rstrat <- svrepdesign(data=apistrat, repweights=as.matrix(jn[,-1]), weights=~pw, type='JKn', scale=1, rscales=rstrat0$rscales, combined.weights=TRUE)
cases <- list()
add <- function(id, base, estimator, variables, options, expected, r_call, tolerance=list(estimate=1e-9, se=1e-7, ci=1e-7), override=NULL) {
  cc <- list(id=id, base=base, estimator=estimator, variables=variables, options=options, expected=expected, r_call=r_call, tolerance=tolerance)
  if (!is.null(override)) cc$design_override <- override
  cases[[length(cases)+1]] <<- cc
}
num <- function(x) { x <- as.numeric(x); x[is.nan(x)] <- NA; x }
single <- function(m, deff=FALSE) {
  e <- list(estimate=num(coef(m))[1], se=num(SE(m))[1])
  ci <- confint(m); e$ci_low <- num(ci[1,1]); e$ci_high <- num(ci[1,2]); e$ci_df <- "Inf"
  if (deff) e$deff <- num(attr(m,"deff"))[1]
  e
}
rows_terms <- function(m, deff=FALSE) {
  ci <- confint(m); dd <- if (deff) diag(as.matrix(attr(m,"deff"))) else NULL
  lapply(seq_along(coef(m)), function(i) { r <- list(term=names(coef(m))[i], estimate=num(coef(m))[i], se=num(SE(m))[i], ci_low=num(ci[i,1]), ci_high=num(ci[i,2])); if (deff) r$deff <- num(dd[i]); r })
}
rows_by <- function(b, byvar, deff=FALSE, ci=TRUE) {
  cf <- coef(b); se <- SE(b); cc <- if (ci) confint(b) else NULL
  dd <- if (deff) b[[grep("DEff", names(b))[1]]] else NULL
  lapply(seq_along(cf), function(i) { r <- list(domain=setNames(list(as.character(b[[byvar]][i])), byvar), estimate=num(cf[i]), se=num(se[i]))
    if (ci) { r$ci_low <- num(cc[i,1]); r$ci_high <- num(cc[i,2]) }
    if (deff) r$deff <- num(dd[i]); r })
}
qrows <- function(q, ps) { r <- q[[1]]; lapply(seq_along(ps), function(i) list(p=ps[i], estimate=num(r[i,1]), ci_low=num(r[i,2]), ci_high=num(r[i,3]), se=num(r[i,4]))) }
an <- list(analysis=list("api00"), na_rm=FALSE)
# ---------------- quantiles
ps <- c(0.1, 0.25, 0.5, 0.75, 0.9)
for (rule in c("school","hf7")) {
  q <- svyquantile(~api00, dclus1, ps, qrule=rule)
  add(paste0("x_q_", rule, "_dclus1"), "median_api00_dclus1", "quantile", an, list(quantiles=ps, qrule=rule), list(rows=qrows(q, ps), df=14),
      sprintf("svyquantile(~api00, dclus1, c(.1,.25,.5,.75,.9), qrule='%s')", rule))
}
for (it in c("beta","asin","xlogit")) {
  q <- svyquantile(~api00, dstrat, ps, interval.type=it)
  add(paste0("x_q_", it, "_dstrat"), "by_stype_median_api00_dstrat", "quantile", an, list(quantiles=ps, `interval.type`=it), list(rows=qrows(q, ps), df=197),
      sprintf("svyquantile(~api00, dstrat, c(.1,.25,.5,.75,.9), interval.type='%s')", it))
}
q <- svyquantile(~api00, dclus2, ps, df=Inf)
add("x_q_dfinf_dclus2", "median_api00_dclus2", "quantile", an, list(quantiles=ps, df="Inf"), list(rows=qrows(q, ps)), "svyquantile(~api00, dclus2, c(.1,.25,.5,.75,.9), df=Inf)")
q <- svyquantile(~api00, dclus1, c(0.25, 0.5, 0.75), interval.type="score")
add("x_q_score_dclus1", "median_api00_dclus1", "quantile", an, list(quantiles=c(0.25,0.5,0.75), `interval.type`="score"), list(rows=qrows(q, c(0.25,0.5,0.75)), df=14),
    "svyquantile(~api00, dclus1, c(.25,.5,.75), interval.type='score')", tolerance=list(estimate=1e-9, se=1e-6, ci=1e-6))
q <- svyquantile(~avg.ed, dclus1, c(0.25, 0.5, 0.75), na.rm=TRUE)
add("x_q_narm_avged_dclus1", "median_api00_dclus1", "quantile", list(analysis=list("avg.ed"), na_rm=TRUE), list(quantiles=c(0.25,0.5,0.75)), list(rows=qrows(q, c(0.25,0.5,0.75)), df=degf(subset(dclus1, !is.na(avg.ed)))),
    "svyquantile(~avg.ed, dclus1, c(.25,.5,.75), na.rm=TRUE)")
q <- svyquantile(~api00, rclus1, c(0.25, 0.5, 0.75), interval.type="xlogit")
add("x_q_xlogit_rclus1", "median_api00_rclus1", "quantile", an, list(quantiles=c(0.25,0.5,0.75), `interval.type`="xlogit"), list(rows=qrows(q, c(0.25,0.5,0.75)), df=14),
    "svyquantile(~api00, rclus1, c(.25,.5,.75), interval.type='xlogit')")
q <- suppressWarnings(svyquantile(~api00, rclus1, c(0.25, 0.5, 0.75), interval.type="quantile"))
add("x_q_quantile_rclus1", "median_api00_rclus1", "quantile", an, list(quantiles=c(0.25,0.5,0.75), `interval.type`="quantile"), list(rows=qrows(q, c(0.25,0.5,0.75)), df=14),
    "svyquantile(~api00, rclus1, c(.25,.5,.75), interval.type='quantile')")
q <- svyquantile(~api00, rclus1, c(0.25, 0.5, 0.75), interval.type="quantile", qrule="school")
add("x_q_quantile_school_rclus1", "median_api00_rclus1", "quantile", an, list(quantiles=c(0.25,0.5,0.75), `interval.type`="quantile", qrule="school"), list(rows=qrows(q, c(0.25,0.5,0.75)), df=14),
    "svyquantile(~api00, rclus1, c(.25,.5,.75), interval.type='quantile', qrule='school')")
b <- svyby(~api00, ~stype, dclus1, svyquantile, quantiles=0.5, ci=TRUE, interval.type="xlogit", qrule="hf7")
rr <- lapply(1:3, function(i) list(domain=list(stype=as.character(b$stype[i])), estimate=num(coef(b)[i]), se=num(SE(b)[i])))
add("x_q_by_stype_xlogit_hf7_dclus1", "median_api00_dclus1", "domain_quantile", list(analysis=list("api00"), by=list("stype"), na_rm=FALSE), list(quantiles=0.5, `interval.type`="xlogit", qrule="hf7"), list(rows=rr),
    "svyby(~api00, ~stype, dclus1, svyquantile, quantiles=0.5, ci=TRUE, interval.type='xlogit', qrule='hf7')")
# ---------------- proportions
for (meth in c("beta","asin","likelihood","logit","mean")) {
  b <- svyby(~I(api00>700), ~stype, dclus1, svyciprop, vartype=c("se","ci"), method=meth)
  rr <- lapply(1:3, function(i) list(domain=list(stype=as.character(b$stype[i])), estimate=num(coef(b)[i]), se=num(SE(b)[i]), ci_low=num(b$ci_l[i]), ci_high=num(b$ci_u[i]), df=degf(subset(dclus1, stype==b$stype[i]))))
  add(paste0("x_ciprop_by_stype_", meth, "_dclus1"), "median_api00_dclus1", "domain_proportion_ci",
      list(by=list("stype"), derived=list(list(name="api00_gt_700", definition="1 if api00 > 700 else 0", r="I(api00 > 700)")), na_rm=FALSE),
      list(method=meth, level=0.95), list(rows=rr), sprintf("svyby(~I(api00>700), ~stype, dclus1, svyciprop, vartype=c('se','ci'), method='%s')", meth),
      tolerance=list(estimate=1e-9, se=1e-7, ci=if (meth=="likelihood") 2e-3 else 1e-6))
}
for (meth in c("beta","asin","logit","mean")) {
  m <- svyciprop(~I(api00>700), dclus2, method=meth, df=Inf)
  add(paste0("x_ciprop_dfinf_", meth, "_dclus2"), "median_api00_dclus2", "proportion_ci",
      list(derived=list(list(name="api00_gt_700", definition="1 if api00 > 700 else 0", r="I(api00 > 700)")), na_rm=FALSE),
      list(method=meth, level=0.95, df="Inf"), list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(attr(m,"ci")[1]), ci_high=num(attr(m,"ci")[2]), ci_level=0.95),
      sprintf("svyciprop(~I(api00>700), dclus2, method='%s', df=Inf)", meth), tolerance=list(estimate=1e-9, se=1e-7, ci=1e-6))
}
m <- svyciprop(~I(api00>700), dstrat, method="beta", level=0.9)
add("x_ciprop_beta90_dstrat", "by_stype_median_api00_dstrat", "proportion_ci",
    list(derived=list(list(name="api00_gt_700", definition="1 if api00 > 700 else 0", r="I(api00 > 700)")), na_rm=FALSE),
    list(method="beta", level=0.9), list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(attr(m,"ci")[1]), ci_high=num(attr(m,"ci")[2]), ci_level=0.9, df=197),
    "svyciprop(~I(api00>700), dstrat, method='beta', level=0.9)", tolerance=list(estimate=1e-9, se=1e-7, ci=1e-6))
m <- svyciprop(~HI_CHOL, nh, method="likelihood", na.rm=TRUE)
add("x_ciprop_likelihood_narm_nhanes", "mean_hichol_nhanes", "proportion_ci", list(analysis=list("HI_CHOL"), na_rm=TRUE),
    list(method="likelihood", level=0.95), list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(attr(m,"ci")[1]), ci_high=num(attr(m,"ci")[2]), ci_level=0.95, df=16),
    "svyciprop(~HI_CHOL, nhanes_design, method='likelihood', na.rm=TRUE)", tolerance=list(estimate=1e-9, se=1e-7, ci=2e-3))
# ---------------- design effects
m <- svymean(~api00, dclus1, deff="replace"); add("x_deff_replace_mean_dclus1", "median_api00_dclus1", "mean", an, list(deff="replace"), single(m, TRUE), "svymean(~api00, dclus1, deff='replace')")
m <- svytotal(~enroll, dstrat, deff="replace"); add("x_deff_replace_total_dstrat", "by_stype_median_api00_dstrat", "total", list(analysis=list("enroll"), na_rm=FALSE), list(deff="replace"), single(m, TRUE), "svytotal(~enroll, dstrat, deff='replace')")
m <- svymean(~sch.wide, dstrat, deff="replace"); add("x_deff_replace_factor_dstrat", "by_stype_median_api00_dstrat", "mean_of_factor", list(analysis=list("sch.wide"), na_rm=FALSE), list(deff="replace"), list(rows=rows_terms(m, TRUE)), "svymean(~sch.wide, dstrat, deff='replace')")
m <- svytotal(~sch.wide, dclus2, deff=TRUE); add("x_deff_total_factor_dclus2", "median_api00_dclus2", "total_of_factor", list(analysis=list("sch.wide"), na_rm=FALSE), list(deff=TRUE), list(rows=rows_terms(m, TRUE)), "svytotal(~sch.wide, dclus2, deff=TRUE)")
b <- svyby(~enroll, ~stype, dstrat, svytotal, deff=TRUE); add("x_deff_by_stype_total_dstrat", "by_stype_median_api00_dstrat", "domain_total", list(analysis=list("enroll"), by=list("stype"), na_rm=FALSE), list(deff=TRUE), list(rows=rows_by(b, "stype", TRUE)), "svyby(~enroll, ~stype, dstrat, svytotal, deff=TRUE)")
b <- svyby(~api00, ~stype, dclus2, svymean, deff="replace"); add("x_deff_replace_by_stype_mean_dclus2", "median_api00_dclus2", "domain_mean", list(analysis=list("api00"), by=list("stype"), na_rm=FALSE), list(deff="replace"), list(rows=rows_by(b, "stype", TRUE)), "svyby(~api00, ~stype, dclus2, svymean, deff='replace')")
m <- svymean(~enroll, subset(dclus1, stype=="E"), deff=TRUE); add("x_deff_subset_mean_dclus1", "median_api00_dclus1", "domain_mean", list(analysis=list("enroll"), domain="stype == 'E'", na_rm=FALSE), list(deff=TRUE), single(m, TRUE), "svymean(~enroll, subset(dclus1, stype=='E'), deff=TRUE)")
m <- svymean(~HI_CHOL, nh, deff=TRUE, na.rm=TRUE); add("x_deff_narm_nhanes", "mean_hichol_nhanes", "mean", list(analysis=list("HI_CHOL"), na_rm=TRUE), list(deff=TRUE), single(m, TRUE), "svymean(~HI_CHOL, nhanes_design, deff=TRUE, na.rm=TRUE)")
# ---------------- lonely PSU variants
apistrat_lonely <- subset(apistrat, stype != 'H' | snum == 280)
for (rule in c("remove","adjust","average","certainty")) {
  options(survey.lonely.psu=rule)
  dl <- svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat_lonely)
  m <- svymean(~api00, dl); e <- single(m); e$df <- degf(dl)
  add(paste0("x_lonely_fpc_", rule, "_apistrat"), "lonely_adjust_mean_api00_apistrat", "mean", an, list(`survey.lonely.psu`=rule), e,
      sprintf("options(survey.lonely.psu='%s'); svymean(~api00, svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc, data=apistrat_lonely))", rule),
      override=list(lonely_psu=rule, fpc=list("fpc")))
  dl2 <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat_lonely)
  m <- svytotal(~enroll, dl2); e <- single(m); e$df <- degf(dl2)
  add(paste0("x_lonely_nofpc_total_", rule, "_apistrat"), "lonely_adjust_mean_api00_apistrat", "total", list(analysis=list("enroll"), na_rm=FALSE), list(`survey.lonely.psu`=rule), e,
      sprintf("options(survey.lonely.psu='%s'); svytotal(~enroll, svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat_lonely))", rule),
      override=list(lonely_psu=rule))
  for (adl in c(TRUE, FALSE)) {
    options(survey.adjust.domain.lonely=adl)
    m <- svymean(~HI_CHOL, subset(nh, race == 1 & agecat == '(59,Inf]'), na.rm=TRUE); e <- single(m); e$df <- 16
    add(sprintf("x_domain_lonely_%s_%s_nhanes", rule, if (adl) "adj" else "noadj"), "mean_hichol_nhanes", "domain_mean",
        list(analysis=list("HI_CHOL"), domain="race == 1 & agecat == '(59,Inf]'", na_rm=TRUE), list(`survey.lonely.psu`=rule, `survey.adjust.domain.lonely`=adl), e,
        sprintf("options(survey.lonely.psu='%s', survey.adjust.domain.lonely=%s); svymean(~HI_CHOL, subset(nhanes_design, race == 1 & agecat == '(59,Inf]'), na.rm=TRUE)", rule, adl),
        override=list(lonely_psu=rule, adjust_domain_lonely=adl))
    b <- svyby(~HI_CHOL, ~agecat, subset(nh, race == 1), svymean, na.rm=TRUE)
    add(sprintf("x_domain_lonely_by_%s_%s_nhanes", rule, if (adl) "adj" else "noadj"), "mean_hichol_nhanes", "domain_mean",
        list(analysis=list("HI_CHOL"), domain="race == 1", by=list("agecat"), na_rm=TRUE), list(`survey.lonely.psu`=rule, `survey.adjust.domain.lonely`=adl), list(rows=rows_by(b, "agecat")),
        sprintf("options(survey.lonely.psu='%s', survey.adjust.domain.lonely=%s); svyby(~HI_CHOL, ~agecat, subset(nhanes_design, race == 1), svymean, na.rm=TRUE)", rule, adl),
        override=list(lonely_psu=rule, adjust_domain_lonely=adl))
  }
  options(survey.adjust.domain.lonely=FALSE)
}
options(survey.lonely.psu="fail")
# ---------------- replicates
add("x_degf_rstrat", "jkn_by_stype_ratio_rstrat", "degf", list(analysis=NULL), list(), list(degf=degf(rstrat)), "degf(rstrat)")

r1 <- as.svrepdesign(dclus1, type="JK1"); m <- svymean(~api00, r1); e <- single(m); e$df <- degf(r1)
add("x_rep_built_jk1_dclus1", "median_api00_dclus1", "mean", an, list(py_to_replicates="jk1"), e, "svymean(~api00, as.svrepdesign(dclus1, type='JK1'))")
r2 <- as.svrepdesign(dstrat, type="JKn"); m <- svyratio(~api.stu, ~enroll, r2); e <- list(estimate=num(coef(m)), se=num(SE(m)))
add("x_rep_built_jkn_ratio_dstrat", "by_stype_median_api00_dstrat", "ratio", list(analysis=list("api.stu"), denominator=list("enroll"), na_rm=FALSE), list(py_to_replicates="jkn"), e, "svyratio(~api.stu, ~enroll, as.svrepdesign(dstrat, type='JKn'))")
r3 <- as.svrepdesign(dclus2, type="JK1"); m <- svytotal(~enroll, r3, na.rm=TRUE); e <- list(estimate=num(coef(m)), se=num(SE(m)))
add("x_rep_built_jk1_total_dclus2", "median_api00_dclus2", "total", list(analysis=list("enroll"), na_rm=TRUE), list(py_to_replicates="jk1"), e, "svytotal(~enroll, as.svrepdesign(dclus2, type='JK1'), na.rm=TRUE)")
for (rho in c(0, 0.3)) {
  rb <- if (rho == 0) as.svrepdesign(scdnofpc, type="BRR") else as.svrepdesign(scdnofpc, type="Fay", fay.rho=rho)
  m <- svytotal(~alive, rb); e <- list(estimate=num(coef(m)), se=num(SE(m)))
  add(sprintf("x_rep_built_brr_rho%g_total_scd", rho), "ratio_alive_arrests_scdnofpc", "total", list(analysis=list("alive"), na_rm=FALSE), list(py_to_replicates=if (rho==0) "brr" else "fay", py_rho=rho), e,
      sprintf("svytotal(~alive, as.svrepdesign(scdnofpc, type='%s'%s))", if (rho==0) "BRR" else "Fay", if (rho==0) "" else ", fay.rho=0.3"))
}
b <- svyby(~api00, ~stype, rclus1, svymean, covmat=TRUE)
ct <- svycontrast(b, c(E=1, H=-1))
add("x_rep_contrast_by_stype_rclus1", "median_api00_rclus1", "domain_contrast", list(analysis=list("api00"), by=list("stype"), na_rm=FALSE), list(contrast=list(E=1, H=-1)), list(estimate=num(coef(ct)), se=num(SE(ct))), "svycontrast(svyby(~api00, ~stype, rclus1, svymean, covmat=TRUE), c(E=1, H=-1))")
m <- svymean(~api00+api99, rclus1, return.replicates=TRUE)
ct <- svycontrast(m, quote(api00/api99))
add("x_rep_transform_ratio_rclus1", "median_api00_rclus1", "transform", list(analysis=list("api00","api99"), na_rm=FALSE), list(expression="api00/api99"), list(estimate=num(coef(ct)), se=num(SE(ct))), "svycontrast(svymean(~api00+api99, rclus1, return.replicates=TRUE), quote(api00/api99))")
b <- svyby(~api.stu, ~stype, denominator=~enroll, rclus1, svyratio)
add("x_rep_by_stype_ratio_rclus1", "median_api00_rclus1", "domain_ratio", list(analysis=list("api.stu"), denominator=list("enroll"), by=list("stype"), na_rm=FALSE), list(), list(rows=rows_by(b, "stype")), "svyby(~api.stu, ~stype, denominator=~enroll, rclus1, svyratio)")

# run: Rscript tests/data/r_extra_estimation.R > cases.json (then wrap as {"cases": [...]})
cat(toJSON(cases, auto_unbox=TRUE, digits=NA, null="null", na="null", pretty=FALSE))

# ---- second batch (appended to the JSON the same way): scd with a constant fpc, YRBS svyciprop
# (the YRBS 'likelihood' case is not kept: with na.rm, R 4.1.1's residuals.svyglm misaligns the
#  weights of the rows left after dropping NAs, so its dispersion is not the documented one)
# suppressMessages(library(survey)); library(jsonlite)
# (D as at the top of this file)
# scd <- read.csv(D("scd.csv")); yrbs <- read.csv(D("yrbs.csv"))
# scdfpc <- svydesign(data=scd, prob=~1, id=~ambulance, strata=~ESA, nest=TRUE, fpc=rep(5,6))
# yrbs_design <- svydesign(id=~psu, weight=~weight, strata=~stratum, data=yrbs)
# yrbs_design <- update(yrbs_design, qn8yes=2-qn8)
# cases <- list()
# num <- function(x) as.numeric(x)
# m <- svytotal(~alive, scdfpc); ci <- confint(m)
# cases[[1]] <- list(id="x_scd_fpc_total_alive", base="ratio_alive_arrests_scdnofpc", estimator="total", variables=list(analysis=list("alive"), na_rm=FALSE), options=list(),
#   design_override=list(fpc=list("rep(5,6)")), expected=list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(ci[1]), ci_high=num(ci[2]), ci_df="Inf", df=degf(scdfpc)),
#   r_call="scdfpc <- svydesign(data=scd, prob=~1, id=~ambulance, strata=~ESA, nest=TRUE, fpc=rep(5,6)); svytotal(~alive, scdfpc)", tolerance=list(estimate=1e-9, se=1e-7, ci=1e-7))
# m <- svyratio(~alive, ~arrests, scdfpc); ci <- confint(m)
# cases[[2]] <- list(id="x_scd_fpc_ratio", base="ratio_alive_arrests_scdnofpc", estimator="ratio", variables=list(analysis=list("alive"), denominator=list("arrests"), na_rm=FALSE), options=list(),
#   design_override=list(fpc=list("rep(5,6)")), expected=list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(ci[1]), ci_high=num(ci[2]), ci_df="Inf"),
#   r_call="svyratio(~alive, ~arrests, scdfpc)", tolerance=list(estimate=1e-9, se=1e-7, ci=1e-7))
# for (meth in c("xlogit", "beta", "likelihood")) {
# m <- svyciprop(~qn8yes, yrbs_design, na.rm=TRUE, method=meth)
# cases[[length(cases)+1]] <- list(id=paste0("x_yrbs_ciprop_", meth), base="degf_yrbs_design", estimator="proportion_ci", variables=list(derived=list(list(name="qn8yes", definition="2 - qn8", r="2 - qn8")), na_rm=TRUE),
#   options=list(method=meth, level=0.95), expected=list(estimate=num(coef(m)), se=num(SE(m)), ci_low=num(attr(m,"ci")[1]), ci_high=num(attr(m,"ci")[2]), ci_level=0.95, df=degf(yrbs_design)),
#   r_call=sprintf("svyciprop(~qn8yes, yrbs_design, na.rm=TRUE, method='%s')", meth), tolerance=list(estimate=1e-9, se=1e-7, ci=if (meth=="likelihood") 2e-3 else 1e-6))
# }
# cat(toJSON(cases, auto_unbox=TRUE, digits=NA, null="null", na="null"))

# ---- third batch: svymean/svytotal of a logical (terms ...FALSE / ...TRUE)
# suppressMessages(library(survey)); library(jsonlite)
# apiclus1 <- read.csv(D("apiclus1.csv"))
# dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
# num <- function(x) as.numeric(x)
# m <- svymean(~I(api00>700), dclus1, deff=TRUE); ci <- confint(m); dd <- diag(as.matrix(attr(m, "deff")))
# rows <- lapply(1:2, function(i) list(term=names(coef(m))[i], estimate=num(coef(m))[i], se=num(SE(m))[i], ci_low=num(ci[i,1]), ci_high=num(ci[i,2]), deff=num(dd[i])))
# cc <- list(list(id="x_deff_logical_mean_dclus1", base="median_api00_dclus1", estimator="mean",
#   variables=list(derived=list(list(name="api00_gt_700", definition="1 if api00 > 700 else 0", r="I(api00 > 700)")), na_rm=FALSE),
#   options=list(deff=TRUE), expected=list(rows=rows), r_call="svymean(~I(api00>700), dclus1, deff=TRUE)", tolerance=list(estimate=1e-9, se=1e-7, ci=1e-7)))
# m <- svytotal(~I(api00>700), dclus1); ci <- confint(m)
# rows <- lapply(1:2, function(i) list(term=names(coef(m))[i], estimate=num(coef(m))[i], se=num(SE(m))[i], ci_low=num(ci[i,1]), ci_high=num(ci[i,2])))
# cc[[2]] <- list(id="x_total_logical_dclus1", base="median_api00_dclus1", estimator="total",
#   variables=list(derived=list(list(name="api00_gt_700", definition="1 if api00 > 700 else 0", r="I(api00 > 700)")), na_rm=FALSE),
#   options=list(), expected=list(rows=rows), r_call="svytotal(~I(api00>700), dclus1)", tolerance=list(estimate=1e-9, se=1e-7, ci=1e-7))
# b <- svyby(~api00, ~stype, dclus1, svyquantile, quantiles=c(0.25, 0.75), ci=TRUE)
# print(b, digits=12)
# cat(toJSON(cc, auto_unbox=TRUE, digits=NA), file="/tmp/rx/extra3.json")
