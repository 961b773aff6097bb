"""``paramtool convert``: any checkpoint paramtool reads -> safetensors."""

from __future__ import annotations

import click

from paramtool.cli.options import CheckpointOptions, checkpoint_options, json_option
from paramtool.cli.write import dtype_option, output_options, output_path, write_and_report
from paramtool.core.collection import collection_paused
from paramtool.export.convert import CheckpointSource


@click.command()
@click.argument("source", metavar="IN", type=click.Path())
@click.argument("out", type=click.Path())
@dtype_option
@checkpoint_options
@output_options
@json_option
@collection_paused()  # the plan and header of a million tensors hold no cycles
def convert(
    source: str,
    out: str,
    dtype: str | None,
    checkpoint_options: CheckpointOptions,
    max_shard_size: int | None,
    meta: tuple[str, ...],
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Convert the checkpoint IN to safetensors at OUT, streaming, without PyTorch.

    IN is a .safetensors file, a torch.save file (.bin, .pt, .pth, .ckpt; zip or legacy
    format, read without running any code from it), an index json or a folder. OUT ending
    in .safetensors is one file; otherwise (or with --max-shard-size) a folder in the
    Hugging Face layout. Each tensor is read, cast (--dtype, floating point only), written
    and let go: memory holds about two tensors. Ties are stored once and recorded; the
    plain non-tensor entries of a training checkpoint (epoch, hyper-parameters) are kept
    in the metadata as JSON. The old OUT stays until the new one is complete.
    """
    path, metadata = output_path(out, max_shard_size, workers, scheduler, meta)
    reader = CheckpointSource(source, dtype=dtype, **checkpoint_options.kwargs())
    write_and_report(
        reader, path, max_shard_size, metadata, workers, scheduler, as_json, "converting"
    )
