"""Logging set-up: one line per record, prefixed by the service; records carry ids, not PII."""

import logging


def configure(service: str, level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
