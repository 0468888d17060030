"""The Celery app that eventsync's Dagster workers run:

    celery -A pipeline.celery_app worker -Q $EVENTSYNC_CELERY_QUEUE --prefetch-multiplier=1 \\
        -n eventsync@%h

It is dagster_celery's app (same tasks, queue and routing) pointed at the broker and
result backend of ``EVENTSYNC_CELERY_BROKER`` / ``EVENTSYNC_CELERY_BACKEND``, the
values eventsync/settings.py gives the celery executor, so runs and workers always agree.
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from eventsync.settings import load

_settings = load()
app = make_app(
    CeleryExecutor.for_cli(
        broker=_settings.celery_broker, backend=_settings.celery_backend
    ).app_args()
)

# A worker killed mid-step (kill -9, a lost machine) must not lose the step: the task is
# acknowledged only once it finished, and a task whose worker process died is handed
# back to the broker, so another worker runs it (same task id: the run waiting on its
# result gets it). Steps are idempotent per day (the partition lock and fencing).
app.conf.update(
    # This deployment's queue (EVENTSYNC_CELERY_QUEUE): what runs send to, so a worker
    # started with `-Q <queue>` (make workers) takes only this deployment's steps.
    task_default_queue=_settings.celery_queue,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
)

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
