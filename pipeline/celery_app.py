"""The Celery app that eventsync's Dagster workers run:

    celery -A pipeline.celery_app worker -Q dagster --prefetch-multiplier=1

It is dagster_celery's app (same tasks, queue and routing) pointed at the broker and
result backend of ``EVENTSYNC_CELERY_BROKER`` / ``EVENTSYNC_CELERY_BACKEND``, the
values resources/settings.py gives the celery executor, so runs and workers always agree.
"""

from __future__ import annotations

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from resources.settings import celery_backend, celery_broker

app = make_app(CeleryExecutor.for_cli(broker=celery_broker(), backend=celery_backend()).app_args())

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
