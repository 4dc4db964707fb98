"""`lianjie matcher`: train the outcome re-ranker from the referral events on NATS."""

import asyncio
from pathlib import Path

import nats
import typer
from nats.errors import NoServersError

from cli import nats_config
from services.matcher.events import read_referral_events
from services.matcher.reranker import model_path, save_reranker
from services.matcher.settings import MatcherSettings
from shared.contracts.needs import ReferralEvent
from shared.errors import ServiceUnavailable
from shared.messaging import ensure_streams
from shared.settings import CommonSettings

matcher_app = typer.Typer(help="The matcher: learn from referral outcomes.")


def _nats_url(common: CommonSettings, var_dir: Path) -> str:
    """LIANJIE_NATS_URL when set, else the admin URL of a `lianjie up` in var_dir, else default."""
    if "nats_url" in common.model_fields_set:
        return common.nats_url
    return nats_config.admin_url(var_dir) or common.nats_url


async def _ignore(_exc: Exception) -> None:
    """Connection errors surface as the exception `nats.connect` raises; no log spam."""


async def _fetch_events(
    nats_url: str, common: CommonSettings, timeout_s: float
) -> list[ReferralEvent]:
    credentials = {"user": common.nats_user, "password": common.nats_password}
    nc = await nats.connect(
        servers=nats_url.split(","),
        connect_timeout=timeout_s,
        # A one-shot tool: fail in seconds rather than retry for minutes on a wrong URL.
        max_reconnect_attempts=2,
        reconnect_time_wait=0.2,
        error_cb=_ignore,
        **(credentials if common.nats_user else {}),
    )
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=common.jetstream_replicas)
        return await read_referral_events(js=js, timeout_s=timeout_s)
    finally:
        await nc.close()


@matcher_app.command()
def train(
    nats_url: str | None = typer.Option(
        None, help="NATS URL (default: LIANJIE_NATS_URL, else the `lianjie up` in var-dir)"
    ),
    var_dir: Path | None = typer.Option(None, help="Where model.json goes (LIANJIE_VAR_DIR)"),
    min_examples: int | None = typer.Option(
        None, help="Labelled outcomes needed (LIANJIE_MATCHER_LEARNING_MIN_EXAMPLES)"
    ),
    timeout: float = typer.Option(5.0, help="Seconds to wait for NATS and each event"),
) -> None:
    """Fit a re-ranker on referral outcomes, compare NDCG@5 with the hand score, save it."""
    # Here, not at the top: scikit-learn is the matcher extra's, and the CLI is in every image.
    from services.matcher.learning import NotEnoughOutcomes, examples_from, train_reranker

    settings = MatcherSettings()
    var_dir = var_dir or settings.common.var_dir
    url = nats_url or _nats_url(settings.common, var_dir)
    try:
        events = asyncio.run(_fetch_events(url, settings.common, timeout))
    except (ServiceUnavailable, NoServersError, OSError) as exc:
        typer.echo(f"cannot read referral events from NATS: {exc}", err=True)
        raise typer.Exit(1) from exc
    examples = examples_from(events=events, weights=settings.weights.as_dict())
    typer.echo(f"{len(events)} referral events, {len(examples)} labelled outcomes")
    try:
        reranker = train_reranker(
            examples=examples,
            min_examples=min_examples or settings.learning_min_examples,
            held_out=settings.learning_held_out,
        )
    except NotEnoughOutcomes as exc:
        typer.echo(f"no model written, the re-ranker stays off: {exc.detail}")
        return
    path = model_path(var_dir=var_dir)
    save_reranker(reranker=reranker, path=path)
    typer.echo(
        f"NDCG@5 on {reranker.held_out_groups} held-out needs: "
        f"model {reranker.ndcg5_model:.4f}, hand-weighted score {reranker.ndcg5_hand:.4f}"
    )
    verdict = "applied" if reranker.beats_hand_score else "not applied (worse than the hand score)"
    typer.echo(f"wrote {path} ({reranker.model_id}): {verdict}")
