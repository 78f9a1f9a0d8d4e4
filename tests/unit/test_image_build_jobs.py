"""Parallel image builds: an image starts only once what it needs is built, no more than ``jobs`` run at
once, and a failed build starts nothing new and is raised. The builders are stand-ins (no Docker)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chaos.errors import ImageError
from chaos.images import build
from chaos.images.catalogue import ImageSpec, Recipe


def _spec(key: str, *needs: str) -> ImageSpec:
    broker, version = key.split(":")
    return ImageSpec(broker=broker, version=version, official=None, recipe=Recipe("apt", needs=needs))


BASE, OTHER_BASE = _spec("debian:bookworm"), _spec("debian:trixie")
IMAGES = [
    BASE,
    OTHER_BASE,
    _spec("kafka:1", "debian:bookworm"),
    _spec("kafka:2", "debian:bookworm"),
    _spec("redis:1", "debian:trixie"),
    _spec("redis:2", "debian:trixie"),
]


class Recorder:
    """Stands in for the builders: records when each image started and ended, and the most at once."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing = failing
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.running = 0
        self.most_at_once = 0

    def __call__(self, client: Any, spec: ImageSpec) -> None:
        with self.lock:
            self.started[spec.key] = time.monotonic()
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
            self.ended[spec.key] = time.monotonic()
        if spec.key == self.failing:
            raise RuntimeError(f"{spec.key} failed")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    made = Recorder()
    monkeypatch.setattr(build, "build_order", lambda keys: list(IMAGES))
    monkeypatch.setattr(build, "is_built", lambda client, spec: False)
    monkeypatch.setattr(build, "builder_for", lambda kind: made)
    return made


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_each_image_starts_after_what_it_needs_and_no_more_than_jobs_run_at_once(recorder: Recorder, jobs: int) -> None:
    built = build.build_images(None, ["kafka:1"], jobs=jobs)  # type: ignore[arg-type]
    assert sorted(spec.key for spec, _ in built) == sorted(spec.key for spec in IMAGES)
    for spec in IMAGES:
        for need in spec.recipe.needs:
            assert recorder.started[spec.key] >= recorder.ended[need], (spec.key, need)
    assert recorder.most_at_once <= jobs
    if jobs > 1:
        assert recorder.most_at_once > 1  # the two bases need nothing: they build together


def test_a_failed_build_starts_nothing_that_needs_it_and_is_raised(recorder: Recorder) -> None:
    recorder.failing = "debian:bookworm"
    with pytest.raises(RuntimeError, match="debian:bookworm failed"):
        build.build_images(None, ["kafka:1"], jobs=2)  # type: ignore[arg-type]
    assert "kafka:1" not in recorder.started and "kafka:2" not in recorder.started


def test_an_image_whose_need_is_not_among_those_built_is_named_not_skipped(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = _spec("kafka:3", "debian:sid")  # nothing in the order builds debian:sid
    monkeypatch.setattr(build, "build_order", lambda keys: [BASE, orphan])
    with pytest.raises(ImageError, match=r"kafka:3 \(needs debian:sid\)"):
        build.build_images(None, ["kafka:3"], jobs=2)  # type: ignore[arg-type]
    assert "kafka:3" not in recorder.started and "debian:bookworm" in recorder.ended
