"""Open Referral HSDS 3.0/3.1 ⇄ the resource library.

- `mapping`: one resource ⇄ one HSDS `service` (what Lianjie models; the rest is kept with the
  resource as read, so an export gives every field back).
- `documents`: every form HSDS data comes in (a service, organization or service_at_location,
  a paginated list, a tabular data package) and the list and tabular forms an export takes.
- `checks`: what is refused per field (malformed phones, impossible values, coordinates outside
  China) and what makes a record a draft (no Lianjie category, service area or capacity).
- `api`: the read API (`GET /hsds/services`, …) as the HSDS API reference lays it out.
"""
