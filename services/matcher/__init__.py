"""Matcher service: ranks suitable resources for a need (资源链接), from an in-memory index."""
