"""The numpy twin of the kws firmware (templates/app/kws): the same records, byte for byte, from the same
audio in any chunk size. codegen.apps.kws describes the pipeline and the record; this module takes its
config (any object with KwsConfig's fields), so that hostsim never imports a later stage.

    twin = Kws(cfg, frontend, graph)
    records = twin.push(samples)   # int16 mono, any length; returns the records of the inferences it made
"""
from __future__ import annotations

import numpy as np

import hostsim.frontend as fe_sim
from hostsim.runner import run as run_model

NO_LABEL = 0xFF
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


class Detector:
    """TFLM's old RecognizeCommands (examples/micro_speech/recognize_commands.cc before Oct 2023), with
    its queue of max_results that drops a new result when full; labels are indices, 0 being silence."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.queue: list = []  # (time_ms, scores int8 array)
        self.previous_top = 0
        self.previous_time = INT32_MIN

    def process(self, scores: np.ndarray, time_ms: int) -> tuple[int, int, bool]:
        """(found label, score 0..255, is_new_command)."""
        c = self.cfg
        if len(self.queue) < c.max_results:
            self.queue.append((time_ms, np.asarray(scores, np.int8).copy()))
        limit = time_ms - c.average_window_ms
        while self.queue and self.queue[0][0] < limit:
            self.queue.pop(0)
        count = len(self.queue)
        if count < c.minimum_count or time_ms - self.queue[0][0] < c.average_window_ms // 4:
            return self.previous_top, 0, False
        sums = np.sum([s.astype(np.int32) + 128 for _, s in self.queue], axis=0)
        means = sums // count  # non-negative: C's truncating division is the floor here
        top, top_score = 0, 0
        for i, m in enumerate(means):
            if m > top_score:
                top, top_score = i, int(m)
        if self.previous_top == 0 or self.previous_time == INT32_MIN:
            since = INT32_MAX
        else:
            since = time_ms - self.previous_time
        new = top_score > c.threshold and (top != self.previous_top or since > c.suppression_ms)
        if new:
            self.previous_top, self.previous_time = top, time_ms
        return top, top_score, new


class Kws:
    def __init__(self, cfg, frontend, graph):
        self.cfg, self.fe, self.graph = cfg, frontend, graph
        self.reset()

    def reset(self) -> None:
        c = self.cfg
        self.state = fe_sim.State.fresh(self.fe)
        self.buffer = np.zeros(0, np.int16)  # samples from the next window's start
        self.waiting: list = []  # chunks received since, until they complete a window
        self.waiting_count = 0
        self.frames = 0  # feature frames made
        self.ring = np.full((c.ring_frames, c.features), c.silence, np.int8)
        self.since = []  # feature frames since the last record
        self.records = 0
        self.detector = Detector(c)
        self.all_features = []

    def push(self, samples) -> list[bytes]:
        """Consume int16 mono samples; the records (payload bytes, index first) of the inferences made."""
        c = self.cfg
        samples = np.asarray(samples, np.int16).reshape(-1)
        self.waiting.append(samples)
        self.waiting_count += samples.size
        if len(self.buffer) + self.waiting_count < c.window:
            return []
        self.buffer = np.concatenate([self.buffer, *self.waiting])
        self.waiting, self.waiting_count = [], 0
        windows = fe_sim.frames(self.buffer, self.fe, c.hop)
        if not len(windows):
            return []
        self.buffer = self.buffer[len(windows) * c.hop:]
        features = fe_sim.run(self.fe, windows, self.state).features
        self.all_features.append(features)
        inputs, pending = [], []  # model inputs, (first frame, frames, count) per inference
        for frame in features:
            self.ring = np.concatenate([self.ring[1:], frame[None]])
            self.since.append(frame)
            self.frames += 1
            if self.frames % c.every == 0:
                inputs.append(self.ring.reshape(self.graph.inputs[0].shape[1:] or (-1,)).copy())
                pending.append((self.frames - len(self.since), np.stack(self.since), self.frames))
                self.since = []
        if not inputs:
            return []
        posteriors = run_model(self.graph, np.stack(inputs)).reshape(len(inputs), -1).astype(np.int8)
        return [self._record(first, feats, post, count)
                for (first, feats, count), post in zip(pending, posteriors)]

    def _record(self, first: int, feats: np.ndarray, post: np.ndarray, count: int) -> bytes:
        c = self.cfg
        label, score, event = NO_LABEL, 0, NO_LABEL
        if count >= c.ring_frames:  # the detector sees only rings of real frames
            label, score, new = self.detector.process(post, c.frame_time_ms(count))
            if new and label in c.keywords:
                event = label
        payload = (self.records.to_bytes(4, "little") + first.to_bytes(4, "little") + bytes([len(feats)])
                   + feats.astype(np.int8).tobytes() + post.astype(np.int8).tobytes() + bytes([label, score, event]))
        self.records += 1
        return payload

    def features(self) -> np.ndarray:
        """Every feature frame made since the reset, (N, features) int8."""
        return np.concatenate(self.all_features) if self.all_features else np.zeros((0, self.cfg.features), np.int8)


def simulate(cfg, frontend, graph, samples, chunk: int | None = None) -> list[bytes]:
    """The records of a whole recording, pushed in chunks of `chunk` samples (all at once if None)."""
    twin = Kws(cfg, frontend, graph)
    samples = np.asarray(samples, np.int16).reshape(-1)
    step = chunk or max(len(samples), 1)
    out = []
    for at in range(0, len(samples), step):
        out += twin.push(samples[at:at + step])
    return out
