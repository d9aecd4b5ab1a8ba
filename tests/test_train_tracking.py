"""Experiment tracking: one tiny SFT run reports to TensorBoard and to W&B (offline); both hold the loss curve
metrics.jsonl holds, and metrics.jsonl holds every key TRL logged."""

from __future__ import annotations

import json

import pytest

from train_fixtures import corpus_of, make_small_bench, one_torch_thread  # noqa: F401


def _cli(*args):
    from selfevolve_lab.cli import main

    main([str(a) for a in args])


def test_tensorboard_and_offline_wandb_hold_the_loss_curve_of_metrics_jsonl(mini_bench, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import build_data, train_tasks

    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    model = make_tiny_model(tmp_path / "model", corpus=corpus_of(bench, train_tasks(bench)), hidden=32, vocab_size=600)
    data = tmp_path / "data.jsonl"
    build_data(bench.root, data, model=None, from_references=True, progress=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DISABLE_CODE", "true")
    for var in ("WANDB_DIR", "TENSORBOARD_LOGGING_DIR"):
        monkeypatch.delenv(var, raising=False)
    run = tmp_path / "run"
    _cli("train", "sft", "--bench", bench.root, "--model", model, "--data", data, "--mode", "closed", "--lr", 1e-2,
         "--batch-size", 1, "--epochs", 1, "--save-steps", 1000, "--out", run, "--report-to", "tensorboard,wandb",
         "--run-name", "tiny")
    records = {m["step"]: m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}
    curve = [(step, m["loss"]) for step, m in records.items()]
    assert [s for s, _ in curve] == [1, 2, 3, 4]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (run / "tensorboard").glob("events.out.tfevents.*")
    tb = EventAccumulator(str(events)).Reload()
    losses = tb.Scalars("train/loss")
    assert [e.step for e in losses] == [s for s, _ in curve]
    assert [e.value for e in losses] == pytest.approx([v for _, v in curve], rel=1e-6)  # float32
    # every scalar TRL logged is in metrics.jsonl, under its own name, with the same value (the end-of-training
    # summary, one record of totals, is not a step's)
    for tag in tb.Tags()["scalars"]:
        key = tag.removeprefix("train/")
        if key in SUMMARY:
            continue
        first = {}
        for e in tb.Scalars(tag):
            first.setdefault(e.step, e.value)
        assert {s: records[s][key] for s in first} == pytest.approx(first, rel=1e-6), key

    (wandb_log,) = (run / "wandb").glob("offline-run-*/run-*.wandb")
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item} for r in _wandb_records(wandb_log)
               if r.HasField("history")]
    assert [(h["train/global_step"], h["train/loss"]) for h in history if "train/loss" in h] == curve
    assert "tiny" in {r.run.display_name for r in _wandb_records(wandb_log) if r.HasField("run")}


SUMMARY = {"train_loss", "train_samples_per_second", "train_steps_per_second", "total_flos"}


def _wandb_records(path):
    """The records of a W&B run file: a 7-byte header (":W&B", magic, version), then LevelDB's log format
    (32 KiB blocks of chunks: crc32c, length, type full/first/middle/last) around protobuf `Record`s."""
    import struct

    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind == 0:
            continue
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            record = Record()
            record.ParseFromString(buf)
            yield record
