"""Multimodal catalogue search: index a catalogue once, then find items by photo, by words, or both.

- `store`: the index directory (SQLite items and filter values, FAISS vectors, meta.json);
- `where`: the `--where` filter parser (whitelisted fields, parameterised SQL);
- `heads`: taxonomy attributes for untagged photos from linear heads a model ships (`tagger_for` picks);
- `autotag`: the zero-shot fallback for models without heads;
- `indexer`: catalogue folder/JSONL -> store, incremental and interruption-safe;
- `engine`: `SearchEngine`, the query API the CLI and the web server use.
"""
