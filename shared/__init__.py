"""Lianjie's common library: settings, contracts, taxonomy, geo, NATS and database helpers."""
