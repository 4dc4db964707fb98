"""The Lianjie services: needs, resources, matcher."""
