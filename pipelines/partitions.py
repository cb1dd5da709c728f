"""Named constants for scheduling. (Ingest partitions per landed file arrive with the sensor.)"""

NIGHTLY_REFRESH_CRON = "0 2 * * *"
NIGHTLY_REFRESH_TIMEZONE = "UTC"
