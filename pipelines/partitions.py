"""Named constants for scheduling. (Ingest partitions per landed file arrive with the sensor.)"""

# 02:00 UTC every night: an incremental catch-up (job iop_refresh) Monday to Saturday, a full
# rebuild (job iop_full_refresh) on Sunday, which catches up as well; one run a night, so the
# marts stay fresh (IOP_MARTS_FRESHNESS_HOURS) and the two never queue on the warehouse pool.
NIGHTLY_REFRESH_CRON = "0 2 * * 1-6"
NIGHTLY_REFRESH_TIMEZONE = "UTC"
WEEKLY_FULL_REFRESH_CRON = "0 2 * * 0"
WEEKLY_FULL_REFRESH_TIMEZONE = "UTC"
