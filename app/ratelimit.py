"""Rate limits on what attackers would hammer: logins, invitation links, password resets.

Fixed windows counted per key (an IP address, an e-mail). With Redis configured, counters are
shared by every process (INCR + EXPIRE); otherwise they live in this process, which is the
whole server in the embedded default.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import redis

from app.errors import DomainError

log = logging.getLogger("arobase.ratelimit")


class TooManyAttempts(DomainError):
    status_code = 429
    title = "Trop de tentatives"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"Trop de tentatives en peu de temps. Réessayez dans {minutes} minute"
            f"{'s' if minutes > 1 else ''}."
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window: int  # seconds


LOGIN_BY_IP = Limit("login-ip", 30, 300)
LOGIN_BY_EMAIL = Limit("login-email", 8, 300)
INVITATION_BY_IP = Limit("invitation-ip", 20, 300)
RESET_BY_IP = Limit("reset-ip", 10, 900)
RESET_BY_EMAIL = Limit("reset-email", 3, 900)


class Counter(Protocol):
    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one attempt; return (attempts in the current window, seconds left in it)."""


class MemoryCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            if len(self._windows) > 100_000:  # bound memory against key flooding
                self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
            ends, count = self._windows.get(key, (0.0, 0))
            if ends <= now:
                ends, count = now + window, 0
            self._windows[key] = (ends, count + 1)
            return count + 1, max(1, int(ends - now))


class RedisCounter:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def hit(self, key: str, window: int) -> tuple[int, int]:
        name = f"arobase:rl:{key}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, window, nx=True)
        pipe.ttl(name)
        count, _, ttl = pipe.execute()
        return int(count), max(1, int(ttl))

    def close(self) -> None:
        self.client.close()


class RateLimiter:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def close(self) -> None:
        if isinstance(self.counter, RedisCounter):
            self.counter.close()

    def check(self, limit: Limit, subject: str) -> None:
        try:
            count, left = self.counter.hit(f"{limit.name}:{subject.lower()}", limit.window)
        except redis.RedisError:
            # Redis down: let people log in rather than lock everyone out; passwords are still
            # argon2-hashed, which keeps guessing slow.
            log.warning("rate limit %s not checked: Redis unreachable", limit.name)
            return
        if count > limit.attempts:
            raise TooManyAttempts(left)


def limiter_for(redis_url: str) -> RateLimiter:
    return RateLimiter(RedisCounter(redis_url) if redis_url else MemoryCounter())
