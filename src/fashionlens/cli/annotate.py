"""`fashionlens annotate`: label photos with taxonomy attributes and template captions via a vision LLM."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

OPENAI_URL = "https://api.openai.com/v1"


class Detail(StrEnum):
    low = "low"
    high = "high"
    auto = "auto"


class BatchStep(StrEnum):
    prepare = "prepare"
    collect = "collect"


def main(
    source: Annotated[
        Path, typer.Argument(help="A folder of images (recursive) or a JSONL manifest of `id`, `image`.")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", dir_okay=False, help="Labels (JSONL), appended to: a re-run resumes."),
    ],
    base_url: Annotated[
        str,
        typer.Option(
            envvar="OPENAI_BASE_URL",
            help="API root of any OpenAI-compatible server, e.g. http://localhost:8000/v1 (vLLM), "
            "http://localhost:11434/v1 (Ollama). The key comes from OPENAI_API_KEY.",
        ),
    ] = OPENAI_URL,
    model: Annotated[str, typer.Option(help="Vision model name as the server knows it.")] = "gpt-4o-mini",
    images_per_request: Annotated[int, typer.Option(min=1, help="Images per request (one answer each).")] = 8,
    max_tries: Annotated[
        int, typer.Option(min=1, help="Asks per image before a bad or missing answer is recorded as failed.")
    ] = 3,
    description: Annotated[
        bool, typer.Option("--description", help="Also ask a one-sentence description per garment.")
    ] = False,
    detail: Annotated[Detail, typer.Option(help="Image detail (OpenAI: low is cheapest).")] = Detail.low,
    max_side: Annotated[int, typer.Option(min=16, help="Longest image side sent, in pixels.")] = 512,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 8,
    requests_per_minute: Annotated[
        float, typer.Option(min=0, help="Client-side cap on requests started per minute (0: none).")
    ] = 0,
    timeout: Annotated[float, typer.Option(min=0.01, help="Seconds to wait for one answer.")] = 60.0,
    max_retries: Annotated[
        int, typer.Option(min=0, help="Retries of a request on 429, 5xx, timeouts and dropped connections.")
    ] = 6,
    backoff: Annotated[float, typer.Option(min=0, help="First retry delay (s), doubled each retry.")] = 1.0,
    max_backoff: Annotated[float, typer.Option(min=0, help="Longest retry delay (s).")] = 60.0,
    prices: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help='Price table JSON {"model": {"input": $/1M, "output": $/1M}}.'),
    ] = None,
    batch_api: Annotated[
        BatchStep | None,
        typer.Option(help="OpenAI Batch API (half price): prepare request files, or collect results."),
    ] = None,
    batch_dir: Annotated[
        Path | None, typer.Option(file_okay=False, help="Batch API work folder (default: OUTPUT.batch).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Label each photo of SOURCE not yet in OUTPUT: its garments (stage 1), then their attributes (stage 2).

    One line per garment as in labels.jsonl, plus `caption` and `content_hash`. A photo with no garment gets
    category "other"; one that keeps failing gets a line with `error`.
    """
    from fashionlens.labelling import batch_api as batch
    from fashionlens.labelling.client import EndpointError, RetryPolicy
    from fashionlens.labelling.pipeline import Endpoint, LabelSettings, annotate
    from fashionlens.labelling.pricing import load_prices

    api_key = os.environ.get("OPENAI_API_KEY")
    if batch_api is None and not api_key and base_url.rstrip("/") == OPENAI_URL:
        typer.echo("error: set OPENAI_API_KEY (or --base-url for a local server)", err=True)
        raise typer.Exit(2)
    settings = LabelSettings(model, images_per_request, max_tries, description, detail.value, max_side)
    work = batch_dir or output.with_name(output.name + ".batch")
    try:
        table = load_prices(prices)
        if batch_api is BatchStep.prepare:
            next_round = batch.prepare(source, output, work, settings, progress)
            summary = None
        elif batch_api is BatchStep.collect:
            summary, next_round = batch.collect(output, work, table, progress)
        else:
            endpoint = Endpoint(
                base_url,
                api_key,
                timeout,
                RetryPolicy(max_retries, backoff, max_backoff),
                concurrency,
                requests_per_minute or None,
            )
            summary, next_round = annotate(source, output, settings, endpoint, table, progress), None
    except (OSError, ValueError, batch.BatchError) as error:  # ValueError includes JsonlError
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except EndpointError as error:
        typer.echo(
            f"error: {error}\nrecords written so far are kept; run the same command to resume", err=True
        )
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: run the same command to resume", err=True)
        raise typer.Exit(130) from None
    if summary is not None:
        typer.echo(summary.table(), err=True)
    if next_round is not None:
        files = "\n".join(f"  {path}" for path in next_round.files)
        typer.echo(
            f"round {next_round.number}: {next_round.requests} requests in\n{files}\n"
            f"Upload each file (purpose 'batch'), create a batch with endpoint {batch.ENDPOINT} and a 24h "
            f"completion window, download its output and error files into\n  {next_round.results_dir}\n"
            "then run this command again with --batch-api collect.",
            err=True,
        )
    elif batch_api is BatchStep.prepare:
        typer.echo(f"nothing to label: every photo of {source} is already in {output}", err=True)
    elif batch_api is BatchStep.collect:
        typer.echo(f"batch job complete: labels in {output}", err=True)
