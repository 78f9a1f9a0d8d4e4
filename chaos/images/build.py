"""Offline image builds from package registries only (Debian, Maven Central, the Go module proxy).

Builds are idempotent: every local image carries a label with the hash of its recipe, and an image whose
label matches is not rebuilt. Progress goes to the ``brokerchaos.images`` logger one step per line, so
a CI log shows where a long build is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from chaos.errors import ImageError
from chaos.host import apt_install, debian_mirror
from chaos.images.catalogue import ImageSpec, all_images, build_order
from chaos.resources import OWNER, OWNER_LABEL

log = logging.getLogger("brokerchaos.images")

RECIPE_LABEL = "io.brokerchaos.recipe"


def recipe_hash(spec: ImageSpec) -> str:
    """What the image is made of; a source directory counts by its digest, not where the checkout is."""
    recipe = spec.recipe
    if "source" in recipe.params:
        recipe = dataclasses.replace(recipe, params={k: v for k, v in recipe.params.items() if k != "source"})
    text = repr((recipe, spec.user, spec.data_dir, sorted(spec.extras.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_built(client: docker.DockerClient, spec: ImageSpec) -> bool:
    try:
        image = client.images.get(spec.local_tag)
    except ImageNotFound:
        return False
    return (image.labels or {}).get(RECIPE_LABEL) == recipe_hash(spec)


def _labels(spec: ImageSpec) -> dict[str, str]:
    return {OWNER_LABEL: OWNER, RECIPE_LABEL: recipe_hash(spec), "io.brokerchaos.image": spec.key}


# Builds run in parallel (``build_images(jobs=...)``), but the host's package manager and Maven's local
# repository are one each: a step that uses them holds this lock.
HOST_STATE = threading.Lock()


def require_tool(tool: str, package: str) -> str:
    with HOST_STATE:
        path = shutil.which(tool)
        if path is None and apt_install([package], f"{tool} is needed to build local images"):
            path = shutil.which(tool)
    if path is None:
        raise ImageError(f"building local images needs `{tool}` (Debian package {package}); install it")
    return path


def _build_debian_base(client: docker.DockerClient, spec: ImageSpec) -> None:
    debootstrap = require_tool("debootstrap", "debootstrap")
    suite = spec.recipe.suite
    with tempfile.TemporaryDirectory(prefix=f"brokerchaos-{suite}-", dir="/var/tmp") as root:
        log.info("  %s: debootstrap --variant=minbase %s (from %s)", spec.key, suite, debian_mirror())
        done = subprocess.run(
            [debootstrap, "--variant=minbase", suite, root, debian_mirror()], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ImageError(f"debootstrap {suite} failed: {done.stdout.strip()[-400:]} {done.stderr.strip()[-400:]}")
        log.info("  %s: docker import -> %s", spec.key, spec.local_tag)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        changes = [f'LABEL {k}="{v}"' for k, v in _labels(spec).items()] + ['CMD ["/bin/bash"]']
        repo, tag = spec.local_tag.rsplit(":", 1)
        client.api.import_image_from_stream(tar.stdout, repository=repo, tag=tag, changes=changes)
        tar.wait()


def docker_build(client: docker.DockerClient, spec: ImageSpec, context: Path) -> None:
    """Build ``spec`` on its Debian base; the image it replaces under the tag (an older recipe) is removed."""
    base = all_images()[f"debian:{spec.recipe.suite}"].local_tag
    (context / "Dockerfile").write_text(f"FROM {base}\n{spec.recipe.dockerfile}")
    replaced = _image_id(client, spec.local_tag)
    try:
        for chunk in client.api.build(
            path=str(context), tag=spec.local_tag, labels=_labels(spec), rm=True, forcerm=True, decode=True
        ):
            if "error" in chunk:
                raise ImageError(f"building {spec.local_tag} failed: {chunk['error'].strip()}")
            line = chunk.get("stream", "").strip()
            if line.startswith("Step "):
                log.info("  %s %s", spec.key, line)
            elif line:
                log.debug("  %s", line)
    except (APIError, BuildError) as exc:
        raise ImageError(f"building {spec.local_tag} failed: {exc}") from exc
    if replaced and replaced != _image_id(client, spec.local_tag):
        _remove_untagged(client, replaced)


def _image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except (ImageNotFound, APIError):
        return None


def _remove_untagged(client: docker.DockerClient, image_id: str) -> None:
    """An image of ours the tag moved away from: left, each rebuild would leave one more on the disk.
    Kept while a container still uses it (docker refuses) or while another tag names it."""
    try:
        image = client.images.get(image_id)
        if not image.tags and (image.labels or {}).get(OWNER_LABEL) == OWNER:
            client.images.remove(image_id)
            log.info("  removed the image %s replaced", image_id[:19])
    except (ImageNotFound, APIError):
        pass


def _build_apt(client: docker.DockerClient, spec: ImageSpec) -> None:
    with tempfile.TemporaryDirectory(prefix="brokerchaos-build-") as tmp:
        docker_build(client, spec, Path(tmp))


def _go(args: list[str], what: str, cwd: Path | None = None, **env: str) -> None:
    """Run the host's ``go`` for a static build (no cgo); an error names ``what`` and go's own words."""
    go = require_tool("go", "golang-go")
    done = subprocess.run(
        [go, *args], cwd=cwd, env={**os.environ, "CGO_ENABLED": "0", **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ImageError(f"{what} failed: {done.stderr.strip()[-600:]}")


def _build_go(client: docker.DockerClient, spec: ImageSpec) -> None:
    params = spec.recipe.params
    with tempfile.TemporaryDirectory(prefix="brokerchaos-go-") as tmp:
        ctx = Path(tmp)
        gobin = ctx / "bin"
        log.info("  %s: go install %s@%s (Go module proxy)", spec.key, params["module"], params["version"])
        _go(["install", f"{params['module']}@{params['version']}"], f"go install {params['module']}", GOBIN=str(gobin))
        built = next(gobin.iterdir())
        shutil.move(str(built), ctx / params["binary"])
        shutil.rmtree(gobin)
        docker_build(client, spec, ctx)


def _build_go_source(client: docker.DockerClient, spec: ImageSpec) -> None:
    """A Go program of this repository (standard library only: nothing is downloaded), built static."""
    params = spec.recipe.params
    with tempfile.TemporaryDirectory(prefix="brokerchaos-go-") as tmp:
        ctx = Path(tmp)
        source = ctx / "src"
        shutil.copytree(params["source"], source)
        log.info("  %s: go build %s", spec.key, params["source"])
        what = f"go build {params['source']}"
        _go(["build", "-o", str(ctx / params["binary"]), "."], what, source, GOFLAGS="-mod=mod")
        shutil.rmtree(source)
        docker_build(client, spec, ctx)


BUILDERS: dict[str, Callable[[docker.DockerClient, ImageSpec], None]] = {
    "debian-base": _build_debian_base,
    "apt": _build_apt,
    "go": _build_go,
    "go-source": _build_go_source,
}


def builder_for(kind: str) -> Callable[[docker.DockerClient, ImageSpec], None]:
    """The builder of a recipe kind: a generic one here, or one a broker kit brings."""
    from chaos.brokers import kits

    for kit in kits().values():
        if kind in kit.builders:
            return kit.builders[kind]
    return BUILDERS[kind]


def build_images(
    client: docker.DockerClient, keys: list[str], force: bool = False, jobs: int = 1
) -> list[tuple[ImageSpec, float]]:
    """Build ``keys`` (and what they need) that are missing or stale; returns (spec, seconds) built.

    ``jobs`` builds run at once, each as soon as the images it needs are there: a fresh machine's two
    Debian bases and its broker images mostly wait on downloads and dpkg, one core each. A failed build
    stops new ones from starting; those running finish, then the first error is raised (so does Ctrl-C,
    after the running builds end). One job builds in this thread, in order, as it always did."""
    specs = build_order(keys)
    position = {spec.key: index for index, spec in enumerate(specs, start=1)}
    built: list[tuple[ImageSpec, float]] = []

    def build(spec: ImageSpec) -> None:
        index = position[spec.key]
        if not force and is_built(client, spec):
            log.info("[%d/%d] %s is up to date", index, len(specs), spec.local_tag)
            return
        log.info("[%d/%d] building %s", index, len(specs), spec.local_tag)
        started = time.monotonic()
        builder_for(spec.recipe.kind)(client, spec)
        took = time.monotonic() - started
        log.info("[%d/%d] built %s in %.0f s", index, len(specs), spec.local_tag, took)
        built.append((spec, took))

    if jobs <= 1:
        for spec in specs:
            build(spec)
        return built
    waiting = list(specs)
    running: dict[Future[None], ImageSpec] = {}
    finished: set[str] = set()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="image-build") as pool:
        while waiting or running:
            startable = [s for s in waiting if set(s.recipe.needs) <= finished] if failure is None else []
            for spec in startable[: jobs - len(running)]:
                waiting.remove(spec)
                running[pool.submit(build, spec)] = spec
            if not running:
                break  # a failure left the rest unstartable
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                spec = running.pop(future)
                error = future.exception()
                if error is None:
                    finished.add(spec.key)
                elif failure is None:
                    failure = error
    if failure is not None:
        raise failure
    if waiting:  # what they need is neither built here nor among the images asked for
        names = ", ".join(f"{s.key} (needs {', '.join(s.recipe.needs)})" for s in waiting)
        raise ImageError(f"images never started, what they need was not built: {names}")
    return built
