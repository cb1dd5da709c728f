-- SQL macros every model may use; created on each connection before models run.
-- 95% Wilson score interval for a proportion of `successes` in `n` trials (null when n = 0).
create or replace macro wilson_low(successes, n) as
    case when n > 0 then
        ((successes / n) + 1.96 ^ 2 / (2 * n)
            - 1.96 * sqrt((successes / n) * (1 - successes / n) / n + 1.96 ^ 2 / (4 * n ^ 2)))
        / (1 + 1.96 ^ 2 / n)
    end;
create or replace macro wilson_high(successes, n) as
    case when n > 0 then
        ((successes / n) + 1.96 ^ 2 / (2 * n)
            + 1.96 * sqrt((successes / n) * (1 - successes / n) / n + 1.96 ^ 2 / (4 * n ^ 2)))
        / (1 + 1.96 ^ 2 / n)
    end;
-- A count of 1-10 persons or episodes: never published (CMS cell-size rule; zero may be shown).
create or replace macro small(n) as coalesce(n between 1 and 10, false);
