"""How long a service takes to stop once told to (SIGTERM): what an orchestrator must wait
before it kills the process (Kubernetes' terminationGracePeriodSeconds, docker-compose's
stop_grace_period, `Stack.stop_process`).

The steps come one after the other: uvicorn stops accepting and gives the requests in flight
LIANJIE_SHUTDOWN_GRACE_S to finish; then the app shuts down: the outbox relay publishes what is
pending for up to LIANJIE_OUTBOX_DRAIN_S, the bus lets the NATS requests it is answering finish
and drains and closes its connection; then the process exits. A process killed sooner leaves
its unsent events for its next start (nothing is lost), but requests cut off are answered by
nobody. tests/deploy/test_shutdown_budget.py holds the manifests to this."""

from shared.messaging import ANSWERING_TIMEOUT_S, DRAIN_TIMEOUT_S

EXIT_S = 2.0
"""After the bus: the database pool's disposal and the interpreter's exit."""


def stop_within_s(grace_s: float, drain_s: float) -> float:
    """The longest a stop takes with `grace_s` for the requests and `drain_s` for the outbox."""
    return grace_s + drain_s + ANSWERING_TIMEOUT_S + 2 * DRAIN_TIMEOUT_S + EXIT_S
