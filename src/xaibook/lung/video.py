"""Video files for chapter 03_lung_sliding: decode to grey frames, encode, with errors that name the file.

PyAV (FFmpeg's libraries, bundled in its wheels with their codecs) is used rather than OpenCV or
imageio-ffmpeg: it decodes MP4 (H.264) and AVI (MJPEG and others) frame by frame with exact
timestamps and frame rates, needs no external ffmpeg binary, and raises typed errors for
truncated or corrupt files. FFmpeg's decoders are bit-exact across CPUs (its FATE tests check
that), so a stand-in written once decodes to the same frames on every machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: containers and the codec each is written with (what ultrasound machines and the paper used)
CODECS = {".mp4": "libx264", ".avi": "mjpeg"}


class LungDataError(ValueError):
    """A lung-ultrasound video, table or region of interest is missing or malformed."""


@dataclass(frozen=True)
class Video:
    """Decoded grey frames (T, H, W) uint8 and the stream's frame rate."""

    frames: np.ndarray
    fps: float

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def read_video(path: str | os.PathLike) -> Video:
    """Decode every frame of ``path`` to 8-bit grey (luma), with the stream's average frame rate."""
    import av

    path = Path(path)
    if not path.is_file():
        raise LungDataError(f"{path}: video file not found; check the 'file' column of videos.csv")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise LungDataError(f"{path}: the file holds no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            frames = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    except av.error.FFmpegError as err:
        raise LungDataError(f"{path}: cannot decode the video ({err}); re-export it as MP4 (H.264) or AVI "
                            f"(MJPEG), or remove it from videos.csv") from err
    if not frames:
        raise LungDataError(f"{path}: no frame could be decoded (truncated or empty file); re-export it")
    if rate is None or float(rate) <= 0:
        raise LungDataError(f"{path}: the video states no frame rate; re-export it with its frame rate")
    return Video(np.stack(frames), float(rate))


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int) -> Path:
    """Encode (T, H, W) uint8 grey frames to ``path`` (codec by extension, :data:`CODECS`), atomically.

    H.264 at a constant quality factor of 12 (visually lossless) or MJPEG at quality 2; frames are
    stored as YUV 4:2:0 as clinical exports are. Even width and height are required by 4:2:0.
    """
    import av

    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise LungDataError(f"{path}: unsupported container; use one of {sorted(CODECS)}")
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8 or frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"expected (T, H, W) uint8 frames with even H and W, got {frames.shape} {frames.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            stream.options = {"crf": "12", "preset": "medium"} if codec == "libx264" else {"qscale": "2"}
            if codec == "mjpeg":
                stream.codec_context.qmin = stream.codec_context.qmax = 2
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
