"""One aid chain per household (一户一条救助链): every service and benefit any member of the
alliance gave a household on one timeline, with double aid and long gaps flagged."""
