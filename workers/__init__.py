"""Distributed mode: the Celery app and thin tasks over ``pipeline``."""
