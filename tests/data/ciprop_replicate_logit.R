# Reference values for the logit interval of a proportion on REPLICATE designs.
#
# R's svyciprop(method = "logit") fits svyglm(y ~ 1, family = quasibinomial) and takes the
# Wald interval of the intercept: on a svrep.design the intercept's SE comes from the
# replicate re-fits, i.e. from the replicates of logit(p); method = "xlogit" keeps the delta
# method (svycontrast of svymean). Regenerate (R 4.x, survey 4.1.1) from the repository root:
#   Rscript tests/data/ciprop_replicate_logit.R
# which writes tests/data/ciprop_replicate_logit.json next to this script.
suppressPackageStartupMessages({library(survey); library(jsonlite)})
data(api)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
rclus1 <- as.svrepdesign(dclus1)                      # JK1 (R's default for an unstratified design)
rclus1_mse <- rclus1; rclus1_mse$mse <- TRUE
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
rstrat <- as.svrepdesign(dstrat, type = "JKn")
bclus1 <- local({set.seed(20240601); as.svrepdesign(dclus1, type = "bootstrap", replicates = 50)})

one <- function(id, r_call, design, design_name, var, method, subset_expr = NULL) {
  f <- switch(var, api700 = ~I(api00 > 700), sch_wide = ~I(sch.wide == "Yes"), api850 = ~I(api00 > 850))
  d <- design
  if (!is.null(subset_expr)) d <- eval(parse(text = sprintf("subset(design, %s)", subset_expr)))
  r <- svyciprop(f, d, method = method)
  ci <- as.numeric(attr(r, "ci"))
  m <- eval(bquote(svyglm(.(f[[2]]) ~ 1, design = d, family = quasibinomial)))
  list(id = id, r_call = r_call, design = design_name, variable = var, subset = subset_expr,
       method = method, df = degf(d), estimate = as.numeric(r), se = sqrt(as.numeric(attr(r, "var"))),
       ci_low = ci[1], ci_high = ci[2], logit_se = as.numeric(SE(m)))
}
cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- one(...)
for (meth in c("logit", "xlogit")) {
  add(paste0("rclus1_api700_", meth), sprintf("rclus1 <- as.svrepdesign(svydesign(id=~dnum, weights=~pw, data=apiclus1, fpc=~fpc)); svyciprop(~I(api00>700), rclus1, method='%s')", meth), rclus1, "rclus1", "api700", meth)
  add(paste0("rclus1_schwide_", meth), sprintf("svyciprop(~I(sch.wide=='Yes'), rclus1, method='%s')", meth), rclus1, "rclus1", "sch_wide", meth)
  add(paste0("rclus1_api850_", meth), sprintf("svyciprop(~I(api00>850), rclus1, method='%s')", meth), rclus1, "rclus1", "api850", meth)
  add(paste0("rclus1_E_api700_", meth), sprintf("svyciprop(~I(api00>700), subset(rclus1, stype=='E'), method='%s')", meth), rclus1, "rclus1", "api700", meth, "stype == 'E'")
  add(paste0("rclus1mse_api700_", meth), sprintf("rclus1_mse <- rclus1; rclus1_mse$mse <- TRUE; svyciprop(~I(api00>700), rclus1_mse, method='%s')", meth), rclus1_mse, "rclus1_mse", "api700", meth)
  add(paste0("rstrat_api700_", meth), sprintf("rstrat <- as.svrepdesign(svydesign(id=~1, strata=~stype, weights=~pw, data=apistrat, fpc=~fpc), type='JKn'); svyciprop(~I(api00>700), rstrat, method='%s')", meth), rstrat, "rstrat", "api700", meth)
  add(paste0("bclus1_api700_", meth), sprintf("set.seed(20240601); bclus1 <- as.svrepdesign(dclus1, type='bootstrap', replicates=50); svyciprop(~I(api00>700), bclus1, method='%s')", meth), bclus1, "bclus1", "api700", meth)
}
# the bootstrap replicate weights, so the Python side can rebuild bclus1 exactly
bw <- weights(bclus1, "analysis")
out <- list(
  provenance = list(r_version = R.version.string, survey_version = as.character(packageVersion("survey")),
                    script = "tests/data/ciprop_replicate_logit.R",
                    note = "estimate/se: the proportion and its replicate SE; ci_*: svyciprop's interval (t on df = degf); logit_se: SE of the svyglm intercept"),
  bclus1 = list(scale = bclus1$scale, rscales = as.numeric(bclus1$rscales), weights = unname(split(bw, col(bw)))),
  cases = cases)
out_path <- file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))), "ciprop_replicate_logit.json")
write_json(out, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null")
cat("wrote", out_path, "\n")
