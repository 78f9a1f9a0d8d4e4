"""Image catalogue, offline builds and resolution (official pinned image, else local build)."""

from chaos.images.catalogue import CATALOGUE, ImageSpec, lookup
from chaos.images.resolve import ImageMode, ImageResolver

__all__ = ["CATALOGUE", "ImageMode", "ImageResolver", "ImageSpec", "lookup"]
