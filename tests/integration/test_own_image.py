"""A profile that names its own image: the cluster runs that image (a team's, derived from ours), and an
image the engine neither has nor can pull stops the run with one line, before any container starts."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from chaos.brokers import new_cluster
from chaos.cluster import Platform
from chaos.errors import EXIT_INFRA, ImageError
from chaos.profiles import PROFILE_DIR, load_profile, parse_profile
from chaos.settings import ProfileError
from tests.integration.helpers import own_run


@pytest.fixture
def team_image(platform: Platform) -> str:
    """Our Redis image under a team's own name (what `FROM brokerchaos/redis:7.0.15` plus their files is)."""
    ours = platform.images.resolve("redis", "7.0.15").ref
    repository, tag = f"brokerchaos-test/redis-{uuid.uuid4().hex[:6]}", "mine"
    platform.client.images.get(ours).tag(repository, tag)
    yield f"{repository}:{tag}"
    platform.client.images.remove(f"{repository}:{tag}")


def test_the_cluster_runs_the_profiles_own_image(platform: Platform, team_image: str) -> None:
    profile = dataclasses.replace(load_profile(PROFILE_DIR / "redis-safe.toml"), image=team_image)
    cluster = new_cluster(own_run(platform), profile)
    assert cluster.image.ref == team_image and cluster.image.source == "profile"
    cluster.start()
    try:
        for node in cluster.data_nodes:
            assert team_image in node.container.image.tags, node.name
        with cluster.client(cluster.current_primary()) as conn:
            assert conn.xadd("orders", {"id": "1"})
    finally:
        cluster.destroy()


def test_an_image_nobody_has_is_an_infrastructure_error_before_anything_starts(platform: Platform) -> None:
    profile = dataclasses.replace(load_profile(PROFILE_DIR / "redis-safe.toml"), image="nobody.invalid/redis:0")
    with pytest.raises(ImageError, match=r"nobody\.invalid/redis:0 \(the profile.s own\)") as raised:
        new_cluster(own_run(platform), profile)
    assert raised.value.exit_code == EXIT_INFRA


@pytest.mark.parametrize("given", ["", "redis", "my redis:1", 7])
def test_an_image_reference_without_a_tag_is_refused_at_load(given: object) -> None:
    with pytest.raises(ProfileError, match="image must be an image reference"):
        parse_profile({"name": "mine", "broker": "redis", "image": given})
