"""Which tokens were ended: the newest `TokensRevoked` of every user, held in memory.

Every service follows the `LIANJIE_TOKENS` stream with an ordered consumer from the last message
of each subject, so a start replays the current state and later revocations arrive within
moments; the token check (`shared.access.AuthenticationMiddleware`) asks `revoked` per request
without touching a database. Readiness waits for the replay (`caught_up`).
"""

import asyncio
import logging

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from shared.auth import Principal
from shared.contracts.streams import TOKENS_STREAM
from shared.contracts.tokens import TOKENS_REVOKED_ALL, TokensRevoked, user_key
from shared.messaging import Bus

log = logging.getLogger(__name__)


class TokenRevocations:
    """The lowest valid token version of each user who ever had tokens ended."""

    def __init__(self) -> None:
        self.min_versions: dict[str, int] = {}
        self.caught_up = asyncio.Event()
        self.skipped = 0

    async def start(self, bus: Bus) -> None:
        """Replay and follow the revocations (a `Bus.on_connected` callback)."""
        info = await bus.js.stream_info(TOKENS_STREAM.name)
        if info.state.messages == 0:
            self.caught_up.set()
        await bus.follow(
            TOKENS_REVOKED_ALL,
            stream=TOKENS_STREAM.name,
            cb=self._on_message,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        )

    async def _on_message(self, msg: Msg) -> None:
        try:
            self.apply(TokensRevoked.model_validate_json(msg.data))
        except ValidationError:
            self.skipped += 1
            log.warning("skipped a malformed token revocation")
        if msg.metadata.num_pending == 0:
            self.caught_up.set()

    def apply(self, event: TokensRevoked) -> None:
        """Take a revocation; an older one (lower version) never lowers the bar."""
        known = self.min_versions.get(event.user_key, 0)
        self.min_versions[event.user_key] = max(known, event.min_version)

    def revoked(self, principal: Principal) -> bool:
        """True when the token's version is below its user's lowest valid one."""
        if not self.min_versions:
            return False
        return principal.ver < self.min_versions.get(user_key(principal.sub), 0)

    def readiness(self) -> str | None:
        """A readiness check: None once the replay is done."""
        return None if self.caught_up.is_set() else "catching up with token revocations"
