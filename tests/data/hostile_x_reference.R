# Reference numbers for tests/test_hostile_x.py (na_rm as R's na.rm=TRUE; deff scale).
# run: Rscript tests/data/hostile_x_reference.R > tests/data/hostile_x_reference.json
suppressMessages(library(survey)); library(jsonlite)
base <- data.frame(y=c(1,2,3,4,5,6,7,9), w=c(1,2,1,2,1,2,1,2), s=c("a","a","b","b","c","c","d","d"), p=1:8)
base$x <- c(1, 3, NA, NA, NA, NA, NA, NA)
base$x2 <- c(1, 2, NA, 4, 5, 6, 7, 8)
des <- svydesign(id=~p, strata=~s, weights=~w, data=base)
out <- list()
# na.rm=TRUE: R leaves the respondents without the value out of the estimate but keeps the
# design's df (degf(des)); the library follows R (df_nonmissing in the reference README is the
# alternative it does not use)
m <- svymean(~x, des, na.rm=TRUE); ci <- confint(m, df=degf(des))
out$narm_mean <- list(estimate=as.numeric(coef(m)), se=as.numeric(SE(m)), df=degf(des), ci_low=ci[1], ci_high=ci[2],
                      df_nonmissing=degf(subset(des, !is.na(x))),
                      r_call="m <- svymean(~x, des, na.rm=TRUE); confint(m, df=degf(des))")
m <- svytotal(~x2, des, na.rm=TRUE); ci <- confint(m, df=degf(des))
out$narm_total <- list(estimate=as.numeric(coef(m)), se=as.numeric(SE(m)), df=degf(des), ci_low=ci[1], ci_high=ci[2],
                       df_nonmissing=degf(subset(des, !is.na(x2))),
                       r_call="m <- svytotal(~x2, des, na.rm=TRUE); confint(m, df=degf(des))")
m <- svymean(~y, des, deff=TRUE)
out$deff_mean_scale1 <- list(deff=as.numeric(deff(m)), r_call="svymean(~y, des, deff=TRUE)")
m <- svymean(~y, des, deff="replace")
out$deff_replace_mean <- list(deff=as.numeric(deff(m)), r_call="svymean(~y, des, deff='replace')")
d1 <- svydesign(id=~p, strata=~s, weights=~I(w/1000), data=base)
msg <- tryCatch({svymean(~y, d1, deff=TRUE); "none"}, warning=function(w) conditionMessage(w))
out$deff_small_weights_warning <- list(message=msg, deff=as.numeric(deff(suppressWarnings(svymean(~y, d1, deff=TRUE)))),
                                       r_call="svymean(~y, svydesign(..., weights=~I(w/1000)), deff=TRUE)")
cat(toJSON(out, auto_unbox=TRUE, digits=NA, na="null", pretty=TRUE))
