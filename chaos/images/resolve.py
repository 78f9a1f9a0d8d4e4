"""Choose the image a cluster runs.

``local`` (the default) runs the images this project builds from package registries — the path its CI
exercises on every run. ``auto`` takes the official pinned image where a registry answers, else the local
one; ``official`` insists on it. Official pulls are not exercised by this project's CI (its machines reach
no container registry): the local images keep the official contract, but that is not tested there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import docker
from docker.errors import APIError, ImageNotFound

from chaos.errors import ImageError, UsageError
from chaos.images.build import build_images, is_built
from chaos.images.catalogue import ImageSpec, lookup

log = logging.getLogger("brokerchaos.images")


class ImageMode(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    OFFICIAL = "official"

    @classmethod
    def parse(cls, text: str) -> ImageMode:
        try:
            return cls(text)
        except ValueError:
            raise UsageError(f"--images must be one of auto, local, official (got {text!r})") from None


@dataclass(frozen=True)
class ResolvedImage:
    ref: str
    spec: ImageSpec
    source: str  # "official" | "local" | "profile" (a team's own, named by the profile)


class ImageResolver:
    """Resolves broker+version to an image reference present on the engine (pulling or building)."""

    def __init__(self, client: docker.DockerClient, mode: ImageMode = ImageMode.LOCAL) -> None:
        self.client = client
        self.mode = mode
        self._unreachable_registries: set[str] = set()
        self._cache: dict[str, ResolvedImage] = {}

    def resolve(self, broker: str, version: str | None = None) -> ResolvedImage:
        spec = lookup(broker, version)
        if spec.key not in self._cache:
            self._cache[spec.key] = self._resolve(spec)
        return self._cache[spec.key]

    def resolve_own(self, ref: str, broker: str, version: str | None = None) -> ResolvedImage:
        """A profile's own image of ``broker`` ``version``: present on the engine, or pulled. It must keep
        the contract of the catalogue's image for that version (user, data directory, binaries)."""
        spec = lookup(broker, version)
        if not (self._present(ref) or self._pull(ref)):
            raise ImageError(f"image {ref} (the profile's own) is not on this engine and cannot be pulled")
        return ResolvedImage(ref, spec, "profile")

    def _resolve(self, spec: ImageSpec) -> ResolvedImage:
        if self.mode is not ImageMode.LOCAL and spec.official:
            if self._present(spec.official) or self._pull(spec.official):
                return ResolvedImage(spec.official, spec, "official")
            if self.mode is ImageMode.OFFICIAL:
                raise ImageError(f"{spec.official} cannot be pulled (no registry?); try --images local")
        if not is_built(self.client, spec):
            log.info("image %s is missing: building it locally", spec.local_tag)
            build_images(self.client, [spec.key])
        return ResolvedImage(spec.local_tag, spec, "local")

    def _present(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
        except ImageNotFound:
            return False
        return True

    def _pull(self, ref: str) -> bool:
        registry = ref.split("/")[0] if "." in ref.split("/")[0] else "docker.io"
        if registry in self._unreachable_registries:
            return False
        repo, tag = ref.rsplit(":", 1)
        try:
            log.info("pulling %s", ref)
            self.client.images.pull(repo, tag=tag)
        except APIError as exc:
            log.info("cannot pull %s (%s): using local images", ref, str(exc.explanation or exc)[:120])
            self._unreachable_registries.add(registry)
            return False
        return True

    def image_id(self, ref: str) -> str:
        return self.client.images.get(ref).id
