"""Image catalogue, offline builds and resolution (official pinned image, else local build)."""

from chaos.images.catalogue import ImageSpec, all_images, lookup
from chaos.images.resolve import ImageMode, ImageResolver

__all__ = ["ImageMode", "ImageResolver", "ImageSpec", "all_images", "lookup"]
