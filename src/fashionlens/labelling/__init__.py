"""LLM labelling: photos -> taxonomy attributes -> template captions, via OpenAI-compatible vision endpoints.

    from fashionlens.labelling import Endpoint, LabelSettings, annotate
    summary = annotate(Path("photos/"), Path("labels.jsonl"), LabelSettings(), Endpoint(api_key=...))

Modules: `prompts` and `schemas` (generated from the taxonomy), `client` (HTTP, retries, rate limiting),
`pipeline` (the two stages, live), `batch_api` (the same through OpenAI Batch API files), `store` (input
listing, resumable output), `pricing`, and `testing` (a fake chat-completions server for tests, benchmarks).
"""

from fashionlens.labelling.client import EndpointError, RetryPolicy
from fashionlens.labelling.pipeline import Endpoint, LabelSettings, Summary, annotate

__all__ = ["Endpoint", "EndpointError", "LabelSettings", "RetryPolicy", "Summary", "annotate"]
