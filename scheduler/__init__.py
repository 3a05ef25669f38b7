"""Time: APScheduler jobs that wake the use cases. No business rules live here."""
