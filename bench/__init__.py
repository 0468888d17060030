"""`make bench`: eventsync's export measured against the machine's floor (bench/run.py)."""
