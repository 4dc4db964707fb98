"""The `lianjie` command line."""
