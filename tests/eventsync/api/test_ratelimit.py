"""Token buckets per client or key: a burst, then one token per 60/rate seconds; a
refund for an attempt that turned out fine; 429 says how long to wait."""

from __future__ import annotations

from eventsync.api.ratelimit import RateLimited, TokenBucket


def test_a_burst_is_allowed_then_the_wait_is_named() -> None:
    bucket = TokenBucket(rate_per_minute=60, burst=3)
    assert [bucket.take("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take("10.0.0.1")
    assert 0 < wait <= 1.0  # one token a second


def test_each_key_has_its_own_bucket() -> None:
    bucket = TokenBucket(rate_per_minute=1, burst=1)
    assert bucket.take("key_a") == 0.0
    assert bucket.take("key_a") > 0
    assert bucket.take("key_b") == 0.0


def test_a_refunded_token_can_be_taken_again() -> None:
    bucket = TokenBucket(rate_per_minute=1, burst=1)
    bucket.take("key_a")
    bucket.refund("key_a")
    assert bucket.take("key_a") == 0.0


def test_a_zero_rate_waits_an_hour_and_429_rounds_the_wait_up() -> None:
    bucket = TokenBucket(rate_per_minute=0, burst=1)
    bucket.take("key_a")
    assert bucket.take("key_a") == 3600.0
    limited = RateLimited("failed authentications", 0.2)
    assert limited.retry_after == 1
    assert str(limited) == "rate limit of failed authentications exceeded; retry in 1 s"


def test_buckets_in_redis_are_shared_and_survive_an_outage() -> None:
    """Two processes' limiters (two objects here) on one Redis share a bucket; with
    Redis unreachable a limiter counts alone instead of failing."""
    import secrets

    import redis

    from eventsync.api.ratelimit import RedisTokenBucket

    url = "redis://127.0.0.1:6379/0"
    redis.Redis.from_url(url).ping()
    name = f"test-{secrets.token_hex(4)}"
    one, two = (RedisTokenBucket(url, name, 1, 2) for _ in range(2))
    assert [one.take("k"), two.take("k")] == [0.0, 0.0]
    assert one.take("k") > 0 and two.take("k") > 0
    two.refund("k")
    assert one.take("k") == 0.0
    down = RedisTokenBucket("redis://127.0.0.1:1/0", name, 1, 1)
    assert down.take("k") == 0.0 and down.take("k") > 0  # its own bucket


def test_a_metered_bucket_admits_until_in_debt_then_names_the_wait() -> None:
    """Bytes, not requests: a body larger than the burst passes on a full bucket and
    leaves it in debt; the next waits until the debt is paid at the rate."""
    bucket = TokenBucket(rate_per_minute=60 * 100, burst=500)  # 100 KiB/s, 500 KiB
    assert bucket.spend("ws", 4_800) == 0.0
    wait = bucket.spend("ws", 1)
    assert 42 < wait <= 43  # 4,300 KiB of debt at 100 KiB/s
    bucket.debit("other", 600)  # a chunked body pays once read
    assert bucket.spend("other", 1) > 0


def test_metered_buckets_in_redis_are_shared() -> None:
    import secrets

    from eventsync.api.ratelimit import RedisTokenBucket

    name = f"test-{secrets.token_hex(4)}"
    url = "redis://127.0.0.1:6379/0"
    one, two = (RedisTokenBucket(url, name, 60 * 100, 500) for _ in range(2))
    assert one.spend("ws", 4_800) == 0.0
    assert 42 < two.spend("ws", 1) <= 43
    two.debit("other", 600)
    assert one.spend("other", 1) > 0


def test_a_workspaces_lane_admits_one_request_and_times_out_the_next() -> None:
    import anyio

    from eventsync.api.lanes import Lanes

    lanes = Lanes(width=1, wait_seconds=0.2)
    order: list[str] = []

    async def main() -> None:
        async def first() -> None:
            async with lanes.hold("ws_a"):
                order.append("a1 in")
                await anyio.sleep(0.5)
                order.append("a1 out")

        async def second() -> None:
            await anyio.sleep(0.05)
            try:
                async with lanes.hold("ws_a"):
                    order.append("a2 in")
            except RateLimited as exc:
                order.append(f"a2 refused: {exc}")

        async def other() -> None:
            await anyio.sleep(0.05)
            async with lanes.hold("ws_b"):  # another workspace never waits for ws_a
                order.append("b in")

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            tg.start_soon(second)
            tg.start_soon(other)

    anyio.run(main)
    assert order == [
        "a1 in",
        "b in",
        "a2 refused: rate limit of event batches in progress for this workspace exceeded; "
        "retry in 1 s",
        "a1 out",
    ]
    assert lanes.busy() == 0  # nothing kept for idle workspaces
