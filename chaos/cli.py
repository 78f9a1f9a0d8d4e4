"""``brokerchaos``: doctor, images, up, validate, profile keys, catalogue, report, compare, cleanup.

Every user-facing failure is a :class:`~chaos.errors.BrokerChaosError`: one line on stderr and its exit
code from the one table the CLI and the pytest plugin share (:mod:`chaos.errors`), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from chaos.errors import EXIT_INTERRUPTED, BrokerChaosError

log = logging.getLogger("brokerchaos")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("urllib3", "docker", "testcontainers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_doctor(args: argparse.Namespace) -> int:
    from chaos.engine import ensure_engine

    client = ensure_engine(fix=args.fix)
    info = client.version()
    print(f"docker engine {info.get('Version')} (API {info.get('ApiVersion')}) answers")
    return 0


def cmd_images_build(args: argparse.Namespace) -> int:
    from chaos.engine import ensure_engine
    from chaos.images.build import build_images
    from chaos.images.catalogue import all_images, build_order, lookup

    client = ensure_engine(fix=True)
    keys = [lookup(*_split_key(k)).key for k in args.images] if args.images else list(all_images())
    began = time.monotonic()
    built = build_images(client, keys, force=args.force, jobs=args.jobs)
    total = len(build_order(keys))
    print(f"{len(built)} image(s) built, {total - len(built)} already up to date, in {time.monotonic() - began:.0f} s")
    return 0


def _positive_int(text: str) -> int:
    """An argparse type: a count of at least 1 (anything else is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return value


def _split_key(text: str) -> tuple[str, str | None]:
    broker, _, version = text.partition(":")
    return broker, version or None


def cmd_images_list(args: argparse.Namespace) -> int:
    from chaos.engine import ensure_engine
    from chaos.images.build import is_built
    from chaos.images.catalogue import all_images

    client = ensure_engine(fix=False)
    present = {tag for image in client.images.list() for tag in image.tags}
    print(f"{'image':<18} {'local build':<34} {'official (pinned)':<40}")
    for spec in all_images().values():
        local = spec.local_tag + (" ✓" if is_built(client, spec) else " -")
        official = (spec.official + (" ✓" if spec.official in present else " -")) if spec.official else "(none)"
        print(f"{spec.key:<18} {local:<34} {official:<40}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from chaos.engine import ensure_engine
    from chaos.errors import UsageError
    from chaos.resources import cleanup

    if not (args.run_id or args.stale or args.all):
        raise UsageError(
            "cleanup needs --run ID (one run's resources), --stale (runs whose process is gone) or --all "
            "(every brokerchaos resource on this engine, other people's live runs included)"
        )
    client = ensure_engine(fix=False)
    report = cleanup(client, run_id=args.run_id, stale_only=args.stale)
    print(f"removed {report}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start a cluster and keep it until Ctrl-C (or ``--for`` seconds); it is always removed after."""
    from chaos.brokers import kit_for
    from chaos.cluster import Platform
    from chaos.engine import engine
    from chaos.images import ImageMode, ImageResolver

    cls = kit_for(args.broker).cluster_class
    client = engine()
    platform = Platform.default(ImageResolver(client, ImageMode.parse(args.images)))
    with cls(platform, version=args.version, proxy_base_port=args.proxy_base_port) as cluster:
        print(f"ready: {cluster.broker} {cluster.version} run={platform.run.run_id}", flush=True)
        for node in cluster.nodes:
            print(f"  {node.name:<12} {node.role:<9} {node.endpoint or '-'}", flush=True)
        deadline = time.monotonic() + args.hold if args.hold else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Re-render a run directory: every example's plots and faults.jsonl, then summary.md and index.html."""
    from pathlib import Path

    from chaos.errors import UsageError
    from chaos.report import render_run
    from chaos.report.render import render_examples

    run_dir = Path(args.run_dir)
    if not (run_dir / "matrix.json").exists():
        raise UsageError(f"{run_dir} is not a run directory (no matrix.json)")
    began = time.monotonic()
    examples = render_examples(run_dir)
    summary, index = render_run(run_dir)
    print(f"{examples} example(s) re-rendered in {time.monotonic() - began:.1f} s")
    print(summary.read_text().splitlines()[2].strip("*"))
    print(f"report: {index}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Two runs' matrices side by side, and what drifted; exit 1 when B is worse than A, 8 when the two
    runs cannot be compared (the same run, nothing in common, or B lacks checks A has)."""
    from pathlib import Path

    from chaos.errors import EXIT_WORSE, NotComparableError
    from chaos.report.compare import compare, load_run, write_comparison

    a, b = load_run(Path(args.run_a)), load_run(Path(args.run_b))
    comparison = compare(a, b)
    out = Path(args.out) if args.out else Path(args.run_b).parent / f"compare-{a.directory.name}-vs-{b.directory.name}"
    summary, page = write_comparison(comparison, out)
    print(comparison.verdict())
    for change in comparison.changed:
        profile, fault, guarantee = change.key
        word = "WORSE" if change.worse else "changed"
        print(f"  {word:8} {profile} / {fault} / {guarantee}: {change.a} -> {change.b}")
    print(f"report: {page}  (summary: {summary})")
    if comparison.problem():
        raise NotComparableError(comparison.problem())
    return EXIT_WORSE if any(c.worse for c in comparison.changed) else 0


def cmd_validate(args: argparse.Namespace) -> int:
    """The load-time checks of each profile, no cluster: one line per profile, exit 4 if any is refused."""

    from chaos.errors import EXIT_USAGE, UsageError
    from chaos.profiles import load_profiles, profile_path

    refused = 0
    for path in args.profiles:
        try:
            (profile,) = load_profiles([profile_path(path)])
        except UsageError as exc:
            refused += 1
            print(f"refused  {exc}")
            continue
        version = profile.version or "default version"
        print(f"ok       {path}: {profile.name} ({profile.broker} {version}; {', '.join(profile.faults.families)})")
    if not refused:
        try:
            load_profiles([profile_path(p) for p in args.profiles])  # what only the set shows: one name twice
        except UsageError as exc:
            refused += 1
            print(f"refused  {exc}")
    return EXIT_USAGE if refused else 0


def cmd_profile_keys(args: argparse.Namespace) -> int:
    """Every key a profile may set, per table: type, default and meaning (generated from the settings)."""
    from chaos.profile_keys import key_reference

    print(key_reference(args.broker), end="")
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    """The known-unsafe catalogue, generated from the shipped profiles (rows, twins, expected anomalies)."""
    from chaos.schedule.catalogue import catalogue_markdown

    print(catalogue_markdown(), end="")
    return 0


def _version() -> str:
    from importlib import metadata

    try:
        return f"brokerchaos {metadata.version('brokerchaos')}"
    except metadata.PackageNotFoundError:
        return "brokerchaos (not installed: running from a checkout)"


class _Parser(argparse.ArgumentParser):
    """A malformed command line is a usage error like any other: one line and exit 4 (argparse says 2,
    which pytest and this table use for an interrupted run)."""

    def error(self, message: str) -> NoReturn:
        from chaos.errors import EXIT_USAGE

        self.exit(EXIT_USAGE, f"brokerchaos: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from chaos.errors import EXIT_CODES

    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = _Parser(
        prog="brokerchaos",
        description=__doc__.splitlines()[0],
        epilog=f"exit codes (the same for `pytest` with the brokerchaos plugin):\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check (and with --fix, start) the Docker engine")
    doctor.add_argument("--fix", action="store_true", help="install docker.io and start dockerd when needed")
    doctor.set_defaults(run=cmd_doctor)

    images = sub.add_parser("images", help="build or list broker images")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    build = images_sub.add_parser("build", help="build local images offline (idempotent)")
    build.add_argument("images", nargs="*", help="broker[:version] (default: the whole catalogue)")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.add_argument("--jobs", type=_positive_int, default=1, help="builds at once (default 1)")
    build.set_defaults(run=cmd_images_build)
    listing = images_sub.add_parser("list", help="show which catalogue images are present")
    listing.set_defaults(run=cmd_images_list)

    up = sub.add_parser("up", help="start a cluster and keep it until Ctrl-C")
    up.add_argument("broker")
    up.add_argument("--version", default=None)
    up.add_argument("--images", default="local", help="local (default) | auto | official")
    up.add_argument("--proxy-base-port", type=int, default=None, help="fixed host ports from here on")
    up.add_argument("--hold", type=float, default=0, help="seconds to keep the cluster (default: until Ctrl-C)")
    up.set_defaults(run=cmd_up)

    validate = sub.add_parser("validate", help="check profiles as a run would load them (no cluster starts)")
    validate.add_argument("profiles", nargs="+", metavar="PROFILE", help="profile TOML files or shipped names")
    validate.set_defaults(run=cmd_validate)

    profile = sub.add_parser("profile", help="what a profile can say")
    profile_sub = profile.add_subparsers(dest="profile_command", required=True)
    keys = profile_sub.add_parser("keys", help="every key per table: type, default, meaning")
    keys.add_argument("broker", nargs="?", default=None, help="only this broker's [cluster] and [client] tables")
    keys.set_defaults(run=cmd_profile_keys)

    catalogue = sub.add_parser("catalogue", help="the known-unsafe catalogue, from the shipped profiles (markdown)")
    catalogue.set_defaults(run=cmd_catalogue)

    report = sub.add_parser("report", help="re-render a run's summary.md and index.html")
    report.add_argument("run_dir", help="reports/<run id> (or reports/latest)")
    report.set_defaults(run=cmd_report)

    comp = sub.add_parser("compare", help="two runs' resilience matrices side by side, and what drifted")
    comp.add_argument("run_a", help="the baseline run directory (e.g. the current version)")
    comp.add_argument("run_b", help="the candidate run directory (e.g. the version to upgrade to)")
    comp.add_argument("--out", default=None, help="where to write compare.md/.html (default: next to RUN_B)")
    comp.set_defaults(run=cmd_compare)

    clean = sub.add_parser("cleanup", help="remove containers/networks/volumes labelled by brokerchaos")
    clean.add_argument("--run", dest="run_id", default=None, help="this run's (its id: BROKERCHAOS_RUN_ID)")
    clean.add_argument("--stale", action="store_true", help="those whose owning process is gone")
    clean.add_argument("--all", action="store_true", help="every one on this engine, live runs of others too")
    clean.set_defaults(run=cmd_cleanup)
    return parser


def _sigterm_as_interrupt() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    _sigterm_as_interrupt()
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokerChaosError as exc:
        first, *rest = str(exc).splitlines() or [type(exc).__name__]
        print(f"brokerchaos: {first}", file=sys.stderr)
        for line in rest:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("brokerchaos: interrupted; everything this run created was removed", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
