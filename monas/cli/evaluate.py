"""The ``evaluate`` command: score given architectures with a space's estimator, no search.

Reads one architecture string per line (blank lines and ``#`` comments skipped),
validates every line (and every other input) before evaluating any, and writes one
JSON line per architecture, in file order, to stdout or to ``--out``: there each line
is appended (fsynced) as its architecture finishes, so that a stopped run keeps what
it scored and ``--resume`` continues it. ``--out`` is locked while it is written
(``.NAME.lock`` beside it, removed at the end); ``--overwrite`` keeps the old file until the first new line.

Exit codes: 0 done (some networks may have status "failed"), 2 bad input (one line on
stderr, nothing written), 130 interrupted (the lines written so far stay; continue
with ``--resume``).

As in ``monas.cli.nsga``, this module imports no torch: ``--help``, bad flags and a taken
``--out`` are answered before the spaces and estimators are imported.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from monas.cli.common import (
    OneLineParser,
    OutPolicy,
    add_dataset_flags,
    check_flags,
    check_out_folder,
    known_names,
    lookup,
    parse_options,
    registries_epilog,
    run_command,
    validate,
)
from monas.device import DEVICE_HELP, resolve_device
from monas.errors import ArchitectureError, UsageError
from monas.search.config import DEFAULT_ESTIMATOR_WHY, SearchConfig
from monas.io import RunClaim, append_line, read_lines, refuse_links, repair_torn_tail
from monas.registry import ESTIMATORS, SPACES

if TYPE_CHECKING:
    import numpy as np

    from monas.search.evaluation import Evaluation, Evaluator
    from search_spaces.base import SearchSpace

PROG = "evaluate"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults are SearchConfig's, so a search and an evaluation
    with the same flags score a network the same way."""
    p = OneLineParser(
        prog=PROG,
        description="Score the architectures listed in --genotypes (one per line; blank lines and lines "
        "starting with # are skipped) without searching: estimated error, MACs and params (and, with "
        "--latency, the measured latency), one JSON line per architecture, to --out or stdout.",
        epilog=registries_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = SearchConfig(out="")
    p.add_argument("--space", required=True, help=f"search space (known: {', '.join(known_names(SPACES))})")
    p.add_argument("--genotypes", required=True, metavar="FILE",
                   help="one architecture string per line, in the space's form (below)")
    p.add_argument("--space-option", "-S", action="append", default=[], metavar="KEY=VALUE", dest="space_options",
                   help="search-space setting, repeatable (each space's settings: below)")
    add_dataset_flags(p, d.dataset)
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of the estimator and of the scoring subsets (default {d.seed})")
    p.add_argument("--estimator", default=d.estimator,
                   help=f"accuracy estimator (known: {', '.join(known_names(ESTIMATORS))}; default {d.estimator}: {DEFAULT_ESTIMATOR_WHY})")
    p.add_argument("--estimator-option", "-E", action="append", default=[], metavar="KEY=VALUE", dest="estimator_options",
                   help="estimator setting, repeatable (each estimator's settings: below)")
    p.add_argument("--device", default=d.device, help=f"{DEVICE_HELP} (default {d.device})")
    p.add_argument("--latency", action="store_true", help="also measure each network's latency, in ms (as run_nsga does)")
    p.add_argument("--latency-device", help="where --latency is measured (default --device; implies --latency)")
    p.add_argument("--latency-batch", type=int, help=f"images per timed forward pass (default {d.latency_batch}; implies --latency)")
    p.add_argument("--out", metavar="FILE.jsonl", help="output file (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file (kept until the first new line)")
    p.add_argument("--resume", action="store_true", help="continue a partial --out file written with the same "
                   "--genotypes and settings: its architectures are kept, the rest are scored and appended")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no per-architecture line on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The evaluation settings as a SearchConfig (search-only fields at their defaults),
    validated as run_nsga validates them; ``--out`` is refused (``check_out``, or when it
    names the ``--genotypes`` file) before the spaces and estimators are imported."""
    latency = args.latency or args.latency_device is not None or args.latency_batch is not None
    latency_batch = SearchConfig.latency_batch if args.latency_batch is None else args.latency_batch
    cheap = SearchConfig(out=args.out or "", space=args.space, dataset=args.dataset, seed=args.seed,
                         estimator=args.estimator, latency_batch=latency_batch)
    check_flags(cheap)
    check_out(args.out, args.overwrite, args.resume)
    if args.out is not None and Path(args.out).resolve() == Path(args.genotypes).resolve():
        raise UsageError(f"--out {args.out} is the --genotypes file; name another file")
    space_options = parse_options(args.space_options, lookup(SPACES, args.space), "space")
    estimator_options = parse_options(
        args.estimator_options, lookup(ESTIMATORS, args.estimator), "estimator", reserved=("seed",)
    )
    config = SearchConfig(
        out=args.out or "",
        space=args.space,
        space_options=space_options,
        dataset=args.dataset,
        data_dir=args.data_dir,
        seed=args.seed,
        estimator=args.estimator,
        estimator_options=estimator_options,
        device=args.device,
        latency_device=(args.latency_device or args.device) if latency else None,
        latency_batch=latency_batch,
    )
    validate(config)
    return config


def check_out(out: str | None, overwrite: bool, resume: bool) -> Path | None:
    """``--out`` as a Path, refused when it is empty, a folder, a link, in a folder this
    user cannot write, or exists without ``overwrite`` or ``resume`` (``OutPolicy``).
    Changes nothing."""
    if out is None:
        if overwrite or resume:
            raise UsageError(f"--{'overwrite' if overwrite else 'resume'} needs --out")
        return None
    policy = OutPolicy(resume, overwrite)
    if not out.strip():
        raise UsageError(f"--out must name a file, got {out!r}")
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out {out} is a folder; name a file such as {path / 'scores.jsonl'}")
    check_out_folder(str(path.parent), what=f"--out {out}: the folder")
    try:
        refuse_links(path.parent, [path.name])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    policy.decide(path, [path.name] if path.exists() else [], "scores")
    return path


@dataclass
class Entry:
    """One architecture line of the input file."""

    line: int
    genome: np.ndarray
    arch: str  # canonical


def read_architectures(path: str, space: SearchSpace) -> list[Entry]:
    """Every architecture line of ``path`` decoded by ``space``; UsageError naming the
    first bad line (the file is read completely before anything is evaluated)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--genotypes {path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read --genotypes {path}: {exc.strerror or exc}") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            genome = space.from_string(line)
            arch = space.canonical(genome)
        except ArchitectureError as exc:
            raise UsageError(f"{path} line {number}: {exc}") from None
        entries.append(Entry(number, genome, arch))
    if not entries:
        raise UsageError(f"--genotypes {path} lists no architectures")
    return entries


def result_row(entry: Entry, evaluation: Evaluation) -> dict:
    """The output line of one input line: the Evaluation's fields (less the search's
    generation) and the input line number."""
    row = evaluation.to_json()
    del row["generation"]
    row["line"] = entry.line
    return row


def scored_rows(out: Path, entries: list[Entry], genotypes: str) -> list[dict]:
    """The rows of a partial ``out`` (a torn last line dropped), checked to be those of
    the first entries of ``genotypes`` in order; UsageError otherwise."""
    try:
        rows = read_lines(out)
    except ValueError as exc:
        raise UsageError(f"cannot --resume: {exc}") from None
    if len(rows) > len(entries):
        raise UsageError(f"cannot --resume: --out {out} holds more lines than {genotypes} lists architectures")
    for row, entry in zip(rows, entries):
        if not (isinstance(row, dict) and row.get("line") == entry.line and row.get("arch") == entry.arch):
            raise UsageError(f"cannot --resume: --out {out} was not written for {genotypes} (no score of its line {entry.line} in order)")
    return rows


def evaluate(config: SearchConfig, genotypes: str, progress: bool = True, out: Path | None = None,
             resume: bool = False) -> list[dict]:
    """Score every architecture of ``genotypes`` as a search with ``config`` would; one
    row per architecture line, in file order. An architecture listed twice is scored
    once. With ``out`` each row is appended there as it is made (``resume``: after the
    rows ``out`` already holds, which are not scored again); otherwise nothing is
    written. Every input is checked before ``out`` is created or changed."""
    from monas.data import load_dataset, scoring_data
    from monas.latency import LatencyProbe
    from monas.search.evaluation import Evaluator
    from monas.search.driver import fitted_estimator

    space = SPACES.create(config.space, **config.space_options)
    entries = read_architectures(genotypes, space)
    if resume and out.exists():
        rows = scored_rows(out, entries, genotypes)  # refuse a mismatched file before loading anything
        if len(rows) == len(entries):
            return rows  # finished before: nothing to do, nothing changed
    images = load_dataset(config.dataset, config.data_dir, split="train")
    estimator = fitted_estimator(config.estimator, config.estimator_options, config.seed, len(images))
    spec = images.spec
    checked: set[str] = set()
    for entry in entries:  # whatever the network cannot be built for (e.g. the resolution) fails here, not midway
        if entry.arch not in checked:
            try:
                space.build(entry.arch, spec)
            except ArchitectureError as exc:
                raise UsageError(f"{genotypes} line {entry.line}: {exc}") from None
            checked.add(entry.arch)
    data = scoring_data(images, estimator.n_train, estimator.n_val, seed=config.seed) if estimator.n_train else None
    probe = None if config.latency_device is None else LatencyProbe(resolve_device(config.latency_device), config.latency_batch)
    evaluator = Evaluator(space, spec, estimator, data, resolve_device(config.device), latency=probe)
    if out is None:
        return _score(entries, evaluator, [], lambda row: None, progress)
    claim = RunClaim(out.parent, fresh=not resume, files=(out.name,), lock_name=f".{out.name}.lock", remove_lock=True)
    failed = True
    try:
        rows = []
        if resume:
            repair_torn_tail(out)
            rows = scored_rows(out, entries, genotypes) if out.exists() else []  # again, under the lock
        else:
            claim.set_aside([out.name] if out.exists() else [])

        def record(row: dict) -> None:
            append_line(out, row)
            claim.start()

        rows = _score(entries, evaluator, rows, record, progress)
        failed = False
        return rows
    finally:
        claim.close(failed)


def _score(entries: list[Entry], evaluator: Evaluator, rows: list[dict], record, progress: bool) -> list[dict]:
    """``rows`` (those of the first entries, already made) completed for every entry;
    each new row is passed to ``record`` as soon as it is made."""
    done = {row["arch"]: row for row in rows}
    rows = list(rows)
    for k, entry in enumerate(entries[len(rows):], len(rows) + 1):
        if entry.arch in done:
            row = {**done[entry.arch], "line": entry.line}
        else:
            row = result_row(entry, evaluator(entry.genome, 0))
            done[entry.arch] = row
        record(row)
        rows.append(row)
        if progress:
            print(f"[{k}/{len(entries)}] line {entry.line}: {_describe(row)}", file=sys.stderr, flush=True)
    return rows


def _describe(row: dict) -> str:
    o = row["objectives"]
    latency = f"latency {o['latency']:.3f} ms  " if "latency" in o else ""
    sizes = f"macs {o['macs'] / 1e6:.2f}M  params {o['params'] / 1e6:.3f}M  {latency}{row['seconds']:.1f}s"
    if row["status"] != "ok":
        return f"failed ({row['failure']})  {sizes}"
    return f"error {o['error']:.2f}  {sizes}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``experiments/evaluate.py``."""

    def work() -> int:
        args = build_parser().parse_args(argv)
        config = config_from_args(args)  # --out checked there, before anything heavy
        out = None if args.out is None else Path(args.out)
        if out is None:
            rows = evaluate(config, args.genotypes, progress=args.progress)
            sys.stdout.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
            sys.stdout.flush()
        else:
            rows = evaluate(config, args.genotypes, progress=args.progress, out=out, resume=args.resume)
        failed = sum(row["status"] != "ok" for row in rows)
        print(f"{PROG}: {len(rows) - failed} scored, {failed} failed; written to {out or 'stdout'}", file=sys.stderr)
        return 0

    return run_command(PROG, work, "lines already in --out stay there; continue with --resume")
