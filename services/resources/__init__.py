"""Resources service: the county's resource library (资源库) and its capacity ledger."""
