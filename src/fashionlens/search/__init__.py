"""Multimodal catalogue search: index a catalogue once, then find items by photo, by words, or both.

- `store`: the index directory (SQLite items and filter values, FAISS vectors, meta.json);
- `where`: the `--where` filter parser (whitelisted fields, parameterised SQL);
- `autotag`: taxonomy attributes for untagged photos: the model's attribute heads (`fashionlens.model.heads`)
  where it has them, else zero-shot phrases (`tagger_for` picks);
- `indexer`: catalogue folder/JSONL -> store, incremental and interruption-safe;
- `engine`: `SearchEngine`, the query API the CLI and the web server use.
"""
