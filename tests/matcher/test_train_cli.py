"""`lianjie matcher train` against a real nats-server: reads referral outcomes from the needs
stream, reports NDCG@5 of the model and of the hand score, and writes the model."""

import asyncio
import json
from pathlib import Path

import nats
from typer.testing import CliRunner

from cli.main import app
from cli.stack import free_port
from services.matcher.reranker import load_reranker, model_path
from shared.contracts.needs import ReferralEvent, referral_subject
from shared.messaging import ensure_streams
from tests.matcher.outcomes import referral_events


async def publish(url: str, events: list[ReferralEvent]) -> None:
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=20)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        for event in events:
            await js.publish(referral_subject(event.state), event.model_dump_json().encode())
        await js.publish("lianjie.needs.need.opened.v1", b"{}")  # not a referral: left alone
    finally:
        await nc.close()


def train(url: str, var_dir: Path, min_examples: int) -> str:
    args = ["matcher", "train", "--nats-url", url, "--var-dir", str(var_dir)]
    result = CliRunner().invoke(app, [*args, "--min-examples", str(min_examples)])
    assert result.exit_code == 0, result.output
    return result.output


def test_train_reads_outcomes_from_nats_and_writes_a_model_that_beats_the_hand_score(
    nats_url: str, tmp_path: Path
) -> None:
    empty = train(nats_url, tmp_path, min_examples=200)
    assert "0 referral events, 0 labelled outcomes" in empty and "stays off" in empty

    events = referral_events(needs=150)
    asyncio.run(publish(nats_url, events))

    too_many = train(nats_url, tmp_path, min_examples=10_000)
    assert f"{len(events)} referral events, 600 labelled outcomes" in too_many
    assert "stays off" in too_many
    assert not model_path(var_dir=tmp_path).exists()

    output = train(nats_url, tmp_path, min_examples=200)
    reranker = load_reranker(path=model_path(var_dir=tmp_path))
    assert reranker is not None
    assert reranker.examples == 600
    assert (
        f"model {reranker.ndcg5_model:.4f}, hand-weighted score {reranker.ndcg5_hand:.4f}" in output
    )
    assert reranker.ndcg5_model > reranker.ndcg5_hand
    assert "applied" in output
    assert json.loads(model_path(var_dir=tmp_path).read_text())["features"] == [
        "category",
        "distance",
        "headroom",
        "text",
        "load",
    ]


def test_train_without_a_reachable_nats_fails_with_a_message(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    args = ["matcher", "train", "--nats-url", url, "--var-dir", str(tmp_path), "--timeout", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "cannot read referral events from NATS" in result.output
    assert not model_path(var_dir=tmp_path).exists()
