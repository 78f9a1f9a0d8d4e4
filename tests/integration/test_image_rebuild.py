"""A rebuilt image leaves nothing behind: the image its tag moved away from is removed (each session's
rebuilt reaper once left another 208 MB image on the disk)."""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest

from chaos.images.build import docker_build
from chaos.images.catalogue import ImageSpec, Recipe


def test_a_rebuild_removes_the_image_its_tag_moved_away_from(tmp_path: Path) -> None:
    client = docker.from_env()
    version = f"test-{uuid.uuid4().hex[:6]}"

    def build(marker: str) -> str:
        spec = ImageSpec(
            "rebuild-check", version, None, Recipe("apt", dockerfile=f"LABEL io.brokerchaos.test={marker}\n")
        )
        context = tmp_path / marker
        context.mkdir()
        docker_build(client, spec, context)
        return str(client.images.get(spec.local_tag).id)

    try:
        first = build("one")
        second = build("two")
        assert second != first
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(first)
    finally:
        for image in client.images.list(filters={"label": "io.brokerchaos.test"}):
            client.images.remove(image.id, force=True)
