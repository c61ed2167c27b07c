# Reference numbers for hi.item_distributions (tests/test_distributions.py).
# Run from this folder: Rscript r_item_distributions.R  (writes r_item_distributions.json)
# Data: the bundled synthetic survey happiness_index/data/yen_bai_city_survey_2024.csv;
# codes 8 and 9 are missing; communes are strata, villages PSUs (nest = TRUE).
suppressMessages(library(survey)); library(jsonlite)
s <- read.csv("../../../happiness_index/data/yen_bai_city_survey_2024.csv", encoding = "UTF-8")
for (v in c("ls_income", "le_rating", "env_services")) s[[v]][s[[v]] %in% c(8, 9)] <- NA
des <- svydesign(id = ~village, strata = ~commune, weights = ~weight, nest = TRUE, data = s)
out <- list()
for (v in c("ls_income", "le_rating", "env_services")) {
  d <- subset(des, !is.na(s[[v]]))
  f <- as.formula(paste0("~factor(", v, ", levels = 1:5)"))
  m <- svymean(f, d)
  mm <- svymean(as.formula(paste0("~", v)), d)
  byc <- svyby(f, ~commune, d, svymean, covmat = FALSE)
  k <- 5
  out[[v]] <- list(
    r_call = paste0("svymean(~factor(", v, ", levels = 1:5), subset(des, !is.na(", v, "))); svyby(..., ~commune, ..., svymean)"),
    share = unname(coef(m)), se = unname(SE(m)), vcov = unname(as.matrix(vcov(m))),
    mean = unname(coef(mm)), mean_se = unname(SE(mm)), df = degf(d),
    by_commune = lapply(seq_len(nrow(byc)), function(i) list(
      commune = as.character(byc$commune[i]),
      share = unname(as.numeric(byc[i, 2:(k + 1)])),
      se = unname(as.numeric(byc[i, (k + 2):(2 * k + 1)]))))
  )
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "r_item_distributions.json")
