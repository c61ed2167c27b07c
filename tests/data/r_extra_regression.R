# More R reference cases for design-based regression (svyglm, regTermTest, svyolr, svychisq,
# svyvar, average marginal effects), in the layout of shared/reference/regression.json.
# Run from the repository root:  Rscript tests/data/r_extra_regression.R
# Reads the api CSVs of shared/data and the replicate weights copied to tests/data; writes
# tests/data/r_extra_regression.json. R is used only to produce these numbers.
suppressPackageStartupMessages({library(survey); library(MASS); library(jsonlite)})
options(digits = 15)
shared <- Sys.getenv("SHARED_DATA", "../shared/data")
rd <- function(name) read.csv(file.path(shared, paste0(name, ".csv")))
apistrat <- rd("apistrat"); apiclus1 <- rd("apiclus1"); apiclus2 <- rd("apiclus2")
rw <- function(f) { x <- read.csv(file.path("tests/data", f)); as.matrix(x[order(x$row), grep("^rep_", names(x))]) }

dstrat <- svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc)
dclus1 <- svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)
dclus2 <- svydesign(id=~dnum+snum, fpc=~fpc1+fpc2, data=apiclus2)
rclus1 <- svrepdesign(data=apiclus1, repweights=rw("apiclus1_jk1.csv"), weights=~pw, type="JK1",
                      scale=0.914839277851167, rscales=1, combined.weights=TRUE)
bclus1 <- svrepdesign(data=apiclus1, repweights=rw("apiclus1_boot50.csv"), weights=~pw, type="bootstrap",
                      scale=0.021865889212828, rscales=1, combined.weights=TRUE)

D <- list(
  dstrat = list(kind="taylor_linearization", dataset="apistrat", ids=list("1"), strata="stype", weights="pw", fpc=list("fpc")),
  dclus1 = list(kind="taylor_linearization", dataset="apiclus1", ids=list("dnum"), strata=NULL, weights="pw", fpc=list("fpc")),
  dclus2 = list(kind="taylor_linearization", dataset="apiclus2", ids=list("dnum", "snum"), strata=NULL, weights=NULL, fpc=list("fpc1", "fpc2")),
  rclus1 = list(kind="replicate_weights", dataset="apiclus1", repweights_file="apiclus1_jk1.csv", full_sample_weights="pw",
                replicate_type="JK1", scale=0.914839277851167, rscales=1, mse=FALSE),
  bclus1 = list(kind="replicate_weights", dataset="apiclus1", repweights_file="apiclus1_boot50.csv", full_sample_weights="pw",
                replicate_type="bootstrap", scale=0.021865889212828, rscales=1, mse=FALSE)
)
# post-stratified to the school-type counts of apipop (4421 / 755 / 1018): calibration-aware variance
dclus1p <- postStratify(dclus1, ~stype, data.frame(stype=c("E", "H", "M"), Freq=c(4421, 755, 1018)))
D$dclus1p <- c(D$dclus1, list(post_stratify=list(stype=list(E=4421, H=755, M=1018))))
nhanes <- rd("nhanes")
dnhanes <- svydesign(id=~SDMVPSU, strata=~SDMVSTRA, weights=~WTMEC2YR, nest=TRUE, data=nhanes)
D$dnhanes <- list(kind="taylor_linearization", dataset="nhanes", ids=list("SDMVPSU"), strata="SDMVSTRA", weights="WTMEC2YR",
                  fpc=NULL, nest=TRUE)
design_of <- list(dstrat=dstrat, dclus1=dclus1, dclus2=dclus2, rclus1=rclus1, bclus1=bclus1, dclus1p=dclus1p,
                  dnhanes=dnhanes)
cases <- list()
add <- function(x) cases[[length(cases) + 1]] <<- x
ctl <- glm.control(epsilon=1e-14, maxit=100)

glm_case <- function(id, formula, formula_py, dname, family, derived=list(), subset=NULL, subset_py=NULL) {
  des <- design_of[[dname]]
  fam <- get(family)()
  m <- if (is.null(subset)) eval(bquote(svyglm(.(formula), design=des, family=.(fam), control=.(ctl))))
       else eval(bquote(svyglm(.(formula), design=des, family=.(fam), control=.(ctl), subset=.(subset))))
  s <- summary(m)
  add(list(id=id, estimator="svyglm", dataset=D[[dname]]$dataset, design=D[[dname]],
           options=list(formula_py=formula_py, glm_family=family, subset_py=subset_py),
           variables=list(derived=derived),
           r_call=paste0("svyglm(", deparse(formula), ", design=", dname, ", family=", family, "()",
                         if (!is.null(subset)) paste0(", subset=", deparse(subset)) else "", ", control=glm.control(epsilon=1e-14, maxit=100))"),
           expected=list(estimate=unname(coef(m)), se=unname(sqrt(diag(vcov(m)))), vcov=unname(vcov(m)),
                         df_residual=m$df.residual, dispersion=unname(s$dispersion[1]), n=length(m$y)),
           tolerance=list(estimate=1e-8, se=1e-6, vcov=1e-6, dispersion=1e-6)))
  invisible(m)
}

yes <- list(list(name="schwide_yes", r='I(sch.wide == "Yes")'))
cyes <- list(list(name="compimp_yes", r='I(comp.imp == "Yes")'))
glm_case("x_glm_gaussian_subset_dclus2", api00 ~ ell + meals, "api00 ~ ell + meals", "dclus2", "gaussian",
         subset=quote(stype == "E"), subset_py="stype == 'E'")
glm_case("x_glm_quasibinomial_subset_dstrat", I(sch.wide == "Yes") ~ ell + meals, "schwide_yes ~ ell + meals", "dstrat",
         "quasibinomial", yes, subset=quote(api99 > 600), subset_py="api99 > 600")
# (with + stype, 2 of the 50 bootstrap refits separate: stypeH -> +-29, arbitrary digits; the
# Python side warns about such replicates instead of matching them)
glm_case("x_glm_quasibinomial_compimp_bclus1", I(comp.imp == "Yes") ~ api99 + meals + ell,
         "compimp_yes ~ api99 + meals + ell", "bclus1", "quasibinomial", cyes)
glm_case("x_glm_poisson_interaction_dstrat", api.stu ~ meals * stype, "api_stu ~ meals * C(stype)", "dstrat", "poisson")
glm_case("x_glm_gaussian_avged_rclus1", api00 ~ avg.ed + stype, "api00 ~ avg_ed + C(stype)", "rclus1", "gaussian")
glm_case("x_glm_gaussian_poststratified_dclus1", api00 ~ ell + meals, "api00 ~ ell + meals", "dclus1p", "gaussian")
glm_case("x_glm_quasibinomial_poststratified_dclus1", I(sch.wide == "Yes") ~ ell + meals, "schwide_yes ~ ell + meals",
         "dclus1p", "quasibinomial", yes)
glm_case("x_glm_quasibinomial_nhanes_nest", HI_CHOL ~ factor(race) + agecat + factor(RIAGENDR),
         "HI_CHOL ~ C(race) + C(agecat) + C(RIAGENDR)", "dnhanes", "quasibinomial")
glm_case("x_glm_binomial_nhanes_domain", HI_CHOL ~ factor(race) + factor(RIAGENDR), "HI_CHOL ~ C(race) + C(RIAGENDR)",
         "dnhanes", "binomial", subset=quote(agecat == "(59,Inf]"), subset_py="agecat == '(59,Inf]'")
m_w <- glm_case("x_glm_quasibinomial_dclus1", I(sch.wide == "Yes") ~ ell + stype, "schwide_yes ~ ell + C(stype)",
                "dclus1", "quasibinomial", yes)

# regTermTest with df=Inf (chi-squared version) and on a replicate design
for (spec in list(list("x_wald_chisq_dclus1", m_w, "dclus1", Inf), list("x_wald_F_dclus1", m_w, "dclus1", NULL))) {
  t <- if (is.null(spec[[4]])) regTermTest(spec[[2]], ~stype) else regTermTest(spec[[2]], ~stype, df=Inf)
  add(list(id=spec[[1]], estimator="regTermTest", dataset="apiclus1", design=D[["dclus1"]],
           options=list(formula_py="schwide_yes ~ ell + C(stype)", glm_family="quasibinomial", test_terms_py=list("C(stype)"),
                        df=if (is.null(spec[[4]])) NULL else "Inf"),
           variables=list(derived=yes), r_call="regTermTest(m, ~stype)",
           expected=if (is.null(t$ddf)) list(chisq=as.vector(t$chisq), ndf=t$df, ddf="Inf", p=as.vector(t$p))
                    else list(F=as.vector(t$Ftest), ndf=t$df, ddf=t$ddf, p=as.vector(t$p)),
           tolerance=list(statistic=1e-6, p=1e-5, df=1e-6)))
}

# svyolr (converged fit, as the public reference: optim to reltol 1e-15; Taylor only here)
olr_case <- function(id, formula, formula_py, dname, dsn) {
  m <- svyolr(formula, design=dsn, control=list(reltol=1e-15, maxit=10000))
  add(list(id=id, estimator="svyolr", dataset=D[[dname]]$dataset, design=D[[dname]],
           options=list(formula_py=formula_py, response_levels=levels(dsn$variables$mealcat)),
           variables=list(derived=list(list(name="mealcat", r="cut(meals, c(0, 25, 50, 75, 100))"))),
           r_call=paste0("svyolr(", deparse(formula), ", design=", dname, ", control=list(reltol=1e-15))"),
           expected=list(coef=unname(coef(m)), se=unname(sqrt(diag(vcov(m)))), df_residual=m$df.residual),
           tolerance=list(estimate=2e-4, se=5e-3),
           notes="R's BFGS with reltol=1e-15 and a finite-difference Hessian; looser tolerance than the public cases"))
}
olr_case("x_olr_mealcat_dclus2", mealcat ~ ell + stype, "mealcat ~ ell + C(stype)", "dclus2",
         update(dclus2, mealcat = cut(meals, c(0, 25, 50, 75, 100))))

# svychisq: Taylor one-stage cluster and a replicate design
for (st in c("F", "Chisq", "Wald", "adjWald")) {
  t <- svychisq(~stype + awards, dclus1, statistic=st)
  add(list(id=paste0("x_chisq_stype_awards_", st, "_dclus1"), estimator="svychisq", dataset="apiclus1", design=D[["dclus1"]],
           options=list(statistic=st, rows_var_py="stype", cols_var_py="awards"), variables=list(derived=list()),
           r_call=paste0("svychisq(~stype + awards, dclus1, statistic='", st, "')"),
           expected=list(statistic=unname(t$statistic), ndf=unname(t$parameter[1]),
                         ddf=if (length(t$parameter) > 1) unname(t$parameter[2]) else "Inf", p=unname(t$p.value)),
           tolerance=list(statistic=1e-6, df=1e-6, p=1e-5)))
}
for (st in c("F", "Wald")) {
  t <- svychisq(~race + agecat, dnhanes, statistic=st)
  add(list(id=paste0("x_chisq_race_agecat_", st, "_nhanes"), estimator="svychisq", dataset="nhanes", design=D[["dnhanes"]],
           options=list(statistic=st, rows_var_py="race", cols_var_py="agecat"), variables=list(derived=list()),
           r_call=paste0("svychisq(~race + agecat, dnhanes, statistic='", st, "')"),
           expected=list(statistic=unname(t$statistic), ndf=unname(t$parameter[1]), ddf=unname(t$parameter[2]),
                         p=unname(t$p.value)),
           tolerance=list(statistic=1e-6, df=1e-6, p=1e-5)))
}
t <- svychisq(~sch.wide + stype, rclus1, statistic="F")
add(list(id="x_chisq_schwide_stype_F_rclus1", estimator="svychisq", dataset="apiclus1", design=D[["rclus1"]],
         options=list(statistic="F", rows_var_py="sch_wide", cols_var_py="stype"), variables=list(derived=list()),
         r_call="svychisq(~sch.wide + stype, rclus1, statistic='F')",
         expected=list(statistic=unname(t$statistic), ndf=unname(t$parameter[1]), ddf=unname(t$parameter[2]), p=unname(t$p.value)),
         tolerance=list(statistic=1e-6, df=1e-6, p=1e-5)))

# svyvar
for (spec in list(list("x_var_api00_dstrat", "dstrat", c("api00")), list("x_var_api00_api99_dclus1", "dclus1", c("api00", "api99")),
                  list("x_var_api00_rclus1", "rclus1", c("api00")))) {
  v <- svyvar(as.formula(paste("~", paste(spec[[3]], collapse="+"))), design_of[[spec[[2]]]])
  add(list(id=spec[[1]], estimator="svyvar", dataset=D[[spec[[2]]]]$dataset, design=D[[spec[[2]]]],
           options=list(columns=as.list(spec[[3]])), variables=list(derived=list()),
           r_call=paste0("svyvar(~", paste(spec[[3]], collapse="+"), ", ", spec[[2]], ")"),
           expected=list(estimate=as.vector(coef(v)), se=as.vector(SE(v))),
           tolerance=list(estimate=1e-9, se=1e-7)))
}

# Average marginal effect of stype (H vs E) on P(sch.wide == "Yes") in a logistic model:
# replicate design: withReplicates refits the glm per replicate (independent of the Python code);
# Taylor design: influence values of the AME by the chain rule, variance by svytotal of them.
ame_fun <- function(w, data) {
  fit <- suppressWarnings(glm(I(sch.wide == "Yes") ~ ell + stype, data=data, weights=w / mean(w), family=quasibinomial(),
                              control=ctl))
  dH <- data; dH$stype <- "H"; dE <- data; dE$stype <- "E"
  g <- predict(fit, newdata=dH, type="response") - predict(fit, newdata=dE, type="response")
  sum(w * g) / sum(w)
}
a <- withReplicates(rclus1, ame_fun)
add(list(id="x_ame_stypeH_quasibinomial_rclus1", estimator="ame", dataset="apiclus1", design=D[["rclus1"]],
         options=list(formula_py="schwide_yes ~ ell + C(stype)", glm_family="quasibinomial", variable="stype", term="stype[H]"),
         variables=list(derived=yes), r_call="withReplicates(rclus1, <AME of stype H vs E from glm refits>)",
         expected=list(estimate=unname(coef(a)), se=unname(SE(a))), tolerance=list(estimate=1e-8, se=1e-6)))
X <- model.matrix(m_w); b <- coef(m_w); w <- weights(dclus1)
dH <- apiclus1; dH$stype <- factor("H", levels=c("E", "H", "M")); dE <- dH; dE$stype <- factor("E", levels=c("E", "H", "M"))
XH <- model.matrix(~ ell + stype, dH); XE <- model.matrix(~ ell + stype, dE)
g <- plogis(XH %*% b) - plogis(XE %*% b); ame <- sum(w * g) / sum(w)
J <- colSums(w * (as.vector(dlogis(XH %*% b)) * XH - as.vector(dlogis(XE %*% b)) * XE)) / sum(w)
mu <- fitted(m_w); y <- m_w$y
U <- X * w * (y - mu); A <- crossprod(X * sqrt(w * mu * (1 - mu)))
z <- w * (g - ame) / sum(w) + (U %*% solve(A)) %*% J
dz <- update(dclus1, z = as.vector(z) / w)  # svytotal multiplies by the weights again
add(list(id="x_ame_stypeH_quasibinomial_dclus1", estimator="ame", dataset="apiclus1", design=D[["dclus1"]],
         options=list(formula_py="schwide_yes ~ ell + C(stype)", glm_family="quasibinomial", variable="stype", term="stype[H]"),
         variables=list(derived=yes), r_call="AME by the chain rule; SE(svytotal(~z, dclus1))",
         expected=list(estimate=ame, se=unname(SE(svytotal(~z, dz)))), tolerance=list(estimate=1e-8, se=1e-6)))

out <- list(family="regression_extra", generated_with=list(R=R.version.string, survey=as.character(packageVersion("survey"))),
            n_cases=length(cases), cases=cases)
writeLines(toJSON(out, auto_unbox=TRUE, digits=NA, null="null", pretty=TRUE), "tests/data/r_extra_regression.json")
cat("wrote", length(cases), "cases\n")
