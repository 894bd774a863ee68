"""The retention job, daily between games."""

import dagster as dg

from readiness_platform.defs.retention.jobs import retention


@dg.schedule(job=retention, cron_schedule="0 5 * * *", execution_timezone="UTC")
def retention_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day at 05:00 UTC (after the nightly baselines, no game in play): enforce the retention schedule."""
    return dg.RunRequest(run_key=f"retention-{context.scheduled_execution_time:%Y%m%d}",
                         tags={"reason": "daily retention schedule"})
