"""The two-stage pipeline against the fake server: record format, targeted re-asks, failure lines, resume."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fashionlens.images import content_hash
from fashionlens.jsonl import read_jsonl
from fashionlens.labelling import EndpointError, LabelSettings, annotate
from fashionlens.labelling.client import image_data_url
from fashionlens.labelling.schemas import GARMENTS
from fashionlens.labelling.testing import FakeVisionServer, FaultPlan
from fashionlens.taxonomy import ATTRIBUTE_FIELDS, OTHER

#: Keys of a garment record, in order (as labels.jsonl, then the caption and the content hash).
GARMENT_KEYS = ["id", "image", "position", "category", *ATTRIBUTE_FIELDS, "caption", "content_hash"]


def _ids(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.iterdir())


def _stage1_sizes(server: FakeVisionServer) -> list[int]:
    return [entry.images for entry in server.log if entry.stage == GARMENTS and entry.status == 200]


def test_records_follow_the_labels_format(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(40)
    output = tmp_path / "labels.jsonl"
    with FakeVisionServer() as server:
        summary = annotate(
            photos, output, LabelSettings(images_per_request=8), fast_endpoint(server), progress=False
        )
    by_id = assert_output(read_jsonl(output), _ids(photos))
    assert all(entry.images <= 8 and entry.status == 200 for entry in server.log)
    assert _stage1_sizes(server) == [8] * 5
    sizes = Counter(len(lines) for lines in by_id.values())
    assert sizes[1] and sizes[2] + sizes[3]  # single-garment photos and worn outfits both occur
    others = [lines[0] for lines in by_id.values() if lines[0].get("category") == OTHER]
    assert others and all(set(line) == {"id", "image", "category", "content_hash"} for line in others)
    for image_id, lines in by_id.items():
        for line in lines:
            assert line["image"] == f"{image_id}.png"
            assert line["content_hash"] == content_hash(photos / line["image"])
            if line["category"] != OTHER:
                assert list(line) == [k for k in GARMENT_KEYS if k in line] and set(line) <= set(GARMENT_KEYS)
    assert summary.labelled == 40 and summary.failed == 0 and summary.images == 40
    assert summary.garments == sum(len(v) for v in by_id.values()) - len(others)
    assert summary.requests == len(server.log) and summary.prompt_tokens > 0 and summary.cost is not None


def test_a_bad_reply_reasks_the_whole_request(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(8)
    plan = FaultPlan(at={1: "malformed", 2: "too_few"})
    with FakeVisionServer(faults=plan) as server:
        settings = LabelSettings(images_per_request=4)
        annotate(
            photos, tmp_path / "out.jsonl", settings, fast_endpoint(server, concurrency=1), progress=False
        )
    assert [e.fault for e in server.log[:2]] == ["malformed", "too_few"]
    assert _stage1_sizes(server) == [4, 4, 4, 4]  # both stage-1 requests failed whole and were asked again
    by_id = assert_output(read_jsonl(tmp_path / "out.jsonl"), _ids(photos))
    assert not any("error" in line for lines in by_id.values() for line in lines)


def test_an_out_of_taxonomy_answer_reasks_only_that_image(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(4)
    with FakeVisionServer(faults=FaultPlan(at={1: "out_of_taxonomy"})) as server:
        settings = LabelSettings(images_per_request=4)
        annotate(
            photos, tmp_path / "out.jsonl", settings, fast_endpoint(server, concurrency=1), progress=False
        )
    assert _stage1_sizes(server) == [4, 1]
    assert_output(read_jsonl(tmp_path / "out.jsonl"), _ids(photos))
    assert not any("error" in line for line in read_jsonl(tmp_path / "out.jsonl"))


def test_an_image_that_keeps_failing_gets_a_failure_line(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(6)
    with FakeVisionServer(faults=FaultPlan(every=1, kinds=("malformed",))) as server:
        settings = LabelSettings(images_per_request=3, max_tries=2)
        summary = annotate(photos, tmp_path / "out.jsonl", settings, fast_endpoint(server), progress=False)
    lines = list(read_jsonl(tmp_path / "out.jsonl"))
    assert_output(lines, _ids(photos))
    assert len(lines) == 6 and all(
        "malformed JSON" in line["error"] and "tried 2 times" in line["error"] for line in lines
    )
    assert sum(_stage1_sizes(server)) == 12 and summary.failed == 6 and summary.labelled == 0


def test_unreadable_files_get_failure_lines_and_the_rest_is_labelled(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(5)
    (photos / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "empty.png").write_bytes(b"")
    output = tmp_path / "out.jsonl"
    with FakeVisionServer() as server:
        summary = annotate(photos, output, LabelSettings(), fast_endpoint(server), progress=False)
    by_id = assert_output(read_jsonl(output), _ids(photos))
    assert "cannot read image" in by_id["corrupt"][0]["error"] and "empty file" in by_id["empty"][0]["error"]
    assert by_id["corrupt"][0]["content_hash"] == content_hash(photos / "corrupt.jpg")
    assert not any("error" in line for i in _ids(photos) if i.startswith("p") for line in by_id[i])
    assert (summary.failed, summary.labelled) == (2, 5)
    assert _stage1_sizes(server) == [5]


def test_a_manifest_source_names_images_as_written_and_lists_each_photo_once(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    photos = make_photos(3)
    manifest = tmp_path / "manifest.jsonl"
    rows = [
        {"id": "a", "image": "photos/p0000.png"},
        {"id": "a", "image": "photos/p0000.png", "position": "top"},  # labels.jsonl style: a line per garment
        {"id": "b", "image": "photos/p0001.png"},
        {"id": "b-copy", "image": "photos/copy.png"},  # the same bytes as b: asked once, recorded for both
        {"id": "gone", "image": "photos/missing.png"},
    ]
    (photos / "copy.png").write_bytes((photos / "p0001.png").read_bytes())
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    output = tmp_path / "out.jsonl"
    with FakeVisionServer() as server:
        annotate(manifest, output, LabelSettings(), fast_endpoint(server), progress=False)
    by_id = assert_output(read_jsonl(output), ["a", "b", "b-copy", "gone"])
    assert {line["image"] for line in by_id["a"]} == {"photos/p0000.png"}
    assert [{**line, "id": "b", "image": ""} for line in by_id["b-copy"]] == [
        {**line, "image": ""} for line in by_id["b"]
    ]
    assert by_id["gone"] == [
        {
            "id": "gone",
            "image": "photos/missing.png",
            "error": by_id["gone"][0]["error"],
            "content_hash": None,
        }
    ]
    assert "cannot read file" in by_id["gone"][0]["error"]
    assert _stage1_sizes(server) == [2]


def test_a_rerun_skips_what_is_done_and_repairs_a_cut_last_line(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any]
) -> None:
    photos = make_photos(12)
    (photos / "broken.png").write_bytes(b"junk")
    output = tmp_path / "out.jsonl"
    with FakeVisionServer() as server:
        annotate(photos, output, LabelSettings(), fast_endpoint(server), progress=False)
        complete = output.read_text()
        requests = len(server.log)
        summary = annotate(photos, output, LabelSettings(), fast_endpoint(server), progress=False)
        assert output.read_text() == complete and len(server.log) == requests and summary.skipped == 13
        # A crash mid-write: the last photo's lines gone, half of one line left behind.
        lines = complete.splitlines(keepends=True)
        last_hash = json.loads(lines[-1])["content_hash"]
        kept = [line for line in lines if json.loads(line)["content_hash"] != last_hash]
        output.write_text("".join(kept) + lines[-1][: len(lines[-1]) // 2])
        summary = annotate(photos, output, LabelSettings(), fast_endpoint(server), progress=False)
    assert sorted(output.read_text().splitlines()) == sorted(complete.splitlines())
    assert summary.images == 1 and summary.skipped == 12


def test_descriptions_are_asked_only_with_the_flag(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any]
) -> None:
    photos = make_photos(20)
    with FakeVisionServer() as server:
        annotate(
            photos,
            tmp_path / "out.jsonl",
            LabelSettings(describe=True),
            fast_endpoint(server),
            progress=False,
        )
    lines = list(read_jsonl(tmp_path / "out.jsonl"))
    assert all(line["description"] for line in lines)
    assert all(
        list(line)[-3:] == ["description", "caption", "content_hash"] for line in lines if "caption" in line
    )


def test_a_refused_key_stops_the_job_and_writes_nothing(
    tmp_path: Path, make_photos: Callable[..., Path], fast_endpoint: Callable[..., Any]
) -> None:
    photos = make_photos(3)
    with FakeVisionServer(api_key="secret") as server, pytest.raises(EndpointError, match="invalid API key"):
        annotate(
            photos,
            tmp_path / "out.jsonl",
            LabelSettings(),
            fast_endpoint(server, api_key="nope"),
            progress=False,
        )
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_images_are_downscaled_jpegs_before_upload(tmp_path: Path) -> None:
    Image.new("RGB", (2000, 1000), (200, 30, 30)).save(tmp_path / "big.png")
    url = image_data_url(tmp_path / "big.png", max_side=128)
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert (image.format, image.size) == ("JPEG", (128, 64))
    Image.new("RGB", (100, 50)).save(tmp_path / "small.png")
    with Image.open(
        io.BytesIO(base64.b64decode(image_data_url(tmp_path / "small.png").split(",", 1)[1]))
    ) as image:
        assert image.size == (100, 50)  # never upscaled


def test_real_photos_from_the_shared_data(
    tmp_path: Path, clothing_dir: Path, fast_endpoint: Callable[..., Any], assert_output: Any
) -> None:
    rows = {}
    for record in read_jsonl(clothing_dir / "labels.jsonl"):
        rows.setdefault(record["id"], {"id": record["id"], "image": str(clothing_dir / record["image"])})
        if len(rows) == 12:
            break
    manifest = tmp_path / "real.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows.values()))
    with FakeVisionServer() as server:
        summary = annotate(
            manifest, tmp_path / "out.jsonl", LabelSettings(), fast_endpoint(server), progress=False
        )
    assert_output(read_jsonl(tmp_path / "out.jsonl"), list(rows))
    assert summary.labelled == 12 and summary.failed == 0
