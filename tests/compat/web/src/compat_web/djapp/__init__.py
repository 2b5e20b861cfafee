"""A Django app inside the binary: models, a migration, templates and static files next to __file__."""
